package sender

// Capabilities are what a channel's transport can do, as its Connector declares them.
// Code that depends on such a feature asks for it here instead of naming a channel, so
// that a new channel is added where cmd/crier registers it (Channels), not at every branch.
type Capabilities struct {
	// Receipts: the network reports what became of a sent message: delivered and read
	// receipts (EventDelivered, EventRead) and late failures (EventFailed).
	Receipts bool
	// Inbound: customers can write to the account and their messages reach Crier, as the
	// transport's EventInbound or, on a simulated network, through POST /v1/sandbox/inbound.
	Inbound bool
	// Simulated: the network is not real. Nothing reaches a person, and a message "from a
	// customer" was written by an operator, so it must never speak for the customer.
	Simulated bool
	// TemplatesOutsideWindow: outside the customer service window (the 24 hours after the
	// customer last wrote) the network takes only templates approved in advance, never
	// free text (Meta's Cloud API).
	TemplatesOutsideWindow bool
	// Media: the transport sends media (images, documents), not only text.
	Media bool
	// PairQR and PairPhone: an account is linked to a phone before it can send, by
	// scanning a QR code or by typing a pairing code on the phone; the Connector then has
	// PairQR and PairPhone methods that return a *Pairing.
	PairQR    bool
	PairPhone bool
}

// Pairs reports whether accounts of the channel are linked to a phone, in either way,
// before they can send.
func (c Capabilities) Pairs() bool { return c.PairQR || c.PairPhone }
