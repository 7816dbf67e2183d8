package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/crierhq/crier/sender"
)

// PairQR links the account to a phone by QR code. It returns once WhatsApp has given the
// first code (Pairing.Code), within Options.ConnectTimeout, or fails fast when WhatsApp
// cannot be reached. The pairing then goes on in the background for Options.PairTimeout
// (Pairing.Timeout): the codes rotate (see Pairing.Events) until the phone scans one, and
// on success the device is recorded for the account, so that Connect can use it.
//
// ctx bounds only the start. An account already paired fails with ErrAlreadyPaired
// (sender.ErrAlreadyPaired); a new pairing of an account replaces the one under way, which
// ends, like a cancelled one, with sender.PairFailed and ErrPairingCancelled. After success, the account is not
// connected: the process that holds its lease connects it.
func (c *Connector) PairQR(ctx context.Context, a sender.Account) (*sender.Pairing, error) {
	return c.pair(ctx, a, "")
}

// PairPhone links the account to a phone by pairing code: it returns once WhatsApp has
// issued the 8-character code (Pairing.Code, "ABCD-EFGH"), which the owner of the phone
// types in WhatsApp → Linked devices → Link with phone number, after WhatsApp shows them
// a notification. phone is the account's own number in E.164. The rest is as PairQR,
// except that Pairing.Events yields no QR codes, only the final event.
func (c *Connector) PairPhone(ctx context.Context, a sender.Account, phone string) (*sender.Pairing, error) {
	if _, err := phoneDigits(phone); err != nil {
		return nil, fmt.Errorf("whatsapp: pair account %d by phone: %w", a.ID, err)
	}
	return c.pair(ctx, a, phone)
}

func (c *Connector) pair(ctx context.Context, a sender.Account, phone string) (*sender.Pairing, error) {
	if a.Channel != sender.WhatsApp {
		return nil, fmt.Errorf("whatsapp: pair account %d: it is a %q account", a.ID, a.Channel)
	}
	device, err := c.pairableDevice(ctx, a.ID)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: pair account %d: %w", a.ID, err)
	}
	cli := whatsmeow.NewClient(device, c.waLog.Sub(fmt.Sprintf("pair-%d", a.ID)))
	if err := applyProxy(cli, a.ProxyURL); err != nil {
		return nil, fmt.Errorf("whatsapp: pair account %d: %w", a.ID, err)
	}
	// Right after pairing, WhatsApp asks the client to reconnect and log in. This process
	// may not hold the account's lease, so it does not: the holder's Connect logs in.
	cli.DisableLoginAutoReconnect = true
	cli.EnableAutoReconnect = false

	runCtx, cancel := context.WithTimeout(context.Background(), c.opts.PairTimeout)
	items, err := cli.GetQRChannel(runCtx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("whatsapp: pair account %d: %w", a.ID, err)
	}
	p := sender.NewPairing(a.ID, cancel)
	p.Timeout = c.opts.PairTimeout
	stop := func() {
		cancel()
		cli.Disconnect()
		cli.RemoveEventHandlers()
	}
	if err := c.pairingStart(p); err != nil {
		stop()
		return nil, fmt.Errorf("whatsapp: pair account %d: %w", a.ID, err)
	}
	fail := func(err error) (*sender.Pairing, error) {
		stop()
		c.pairingEnd(p)
		if p.Cancelled() {
			err = ErrPairingCancelled
		}
		return nil, reachError("pair", a, err)
	}

	deadline := time.Now().Add(c.opts.ConnectTimeout)
	if err := dial(ctx, cli, runCtx, cancel, deadline); err != nil {
		return fail(err)
	}
	first, err := firstCode(ctx, items, deadline)
	if err != nil {
		return fail(err)
	}
	if phone == "" {
		p.Code = first.Code
		p.EmitCode(sender.PairEvent{Kind: sender.PairCode, Code: first.Code, Expires: first.Timeout})
	} else {
		pctx, pcancel := context.WithDeadline(ctx, deadline)
		code, err := cli.PairPhone(pctx, phone, true, whatsmeow.PairClientChrome, pairingCodeClientName)
		pcancel()
		if err != nil {
			digits, _ := phoneDigits(phone)
			return fail(fmt.Errorf("request a pairing code: %w", scrubbed(err, digits)))
		}
		p.Code = code
	}
	c.log.Info("whatsapp: pairing started", "account_id", a.ID, "by", pairMethod(phone))
	go c.pairingWatch(p, items, phone == "", cli.Store.GetJID, stop)
	return p, nil
}

func pairMethod(phone string) string {
	if phone == "" {
		return "qr"
	}
	return "phone"
}

// pairableDevice returns a new device for the account, unless it has a linked one.
func (c *Connector) pairableDevice(ctx context.Context, accountID int64) (*store.Device, error) {
	_, err := c.device(ctx, accountID)
	switch {
	case err == nil:
		return nil, ErrAlreadyPaired
	case !errors.Is(err, ErrNotPaired):
		return nil, err
	}
	return c.container.NewDevice(), nil
}

// firstCode waits for WhatsApp's first QR code, which also tells that the pre-login
// connection is up.
func firstCode(ctx context.Context, items <-chan whatsmeow.QRChannelItem, deadline time.Time) (whatsmeow.QRChannelItem, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case item, ok := <-items:
		switch {
		case !ok:
			return item, errors.New("the connection closed before WhatsApp sent a code")
		case item.Event != whatsmeow.QRChannelEventCode:
			return item, qrItemError(item)
		}
		return item, nil
	case <-timer.C:
		return whatsmeow.QRChannelItem{}, fmt.Errorf("%w: the websocket opened but WhatsApp sent no code", ErrTimeout)
	case <-ctx.Done():
		return whatsmeow.QRChannelItem{}, ctx.Err()
	}
}

// pairingWatch follows a pairing to its end in the background, records the device on
// success, and reports the outcome.
func (c *Connector) pairingWatch(p *sender.Pairing, items <-chan whatsmeow.QRChannelItem, showCodes bool, deviceJID func() types.JID, stop func()) {
	defer c.pairingEnd(p)
	final := c.pairingOutcome(p, items, showCodes, deviceJID)
	stop()
	p.Finish(final)
	if final.Kind == sender.PairSuccess {
		c.log.Info("whatsapp: pairing succeeded", "account_id", p.AccountID)
	} else {
		c.log.Info("whatsapp: pairing ended", "account_id", p.AccountID, "outcome", string(final.Kind), "reason", final.Err.Error())
	}
}

// pairingOutcome reads whatsmeow's QR channel until the pairing ends.
func (c *Connector) pairingOutcome(p *sender.Pairing, items <-chan whatsmeow.QRChannelItem, showCodes bool, deviceJID func() types.JID) sender.PairEvent {
	for item := range items {
		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			if showCodes {
				p.EmitCode(sender.PairEvent{Kind: sender.PairCode, Code: item.Code, Expires: item.Timeout})
			}
		case whatsmeow.QRChannelScannedWithoutMultidevice.Event:
			// The phone must enable multi-device; the same code can then be scanned again.
		case whatsmeow.QRChannelSuccess.Event:
			return c.paired(p.AccountID, deviceJID())
		case whatsmeow.QRChannelTimeout.Event:
			return sender.PairEvent{Kind: sender.PairTimeout, Err: errors.New("whatsapp: no phone linked the account before the codes ran out or the connection closed")}
		default:
			return sender.PairEvent{Kind: sender.PairFailed, Err: fmt.Errorf("whatsapp: pairing failed: %w", qrItemError(item))}
		}
	}
	// whatsmeow closes the channel without a final item when the pairing's context ends.
	if p.Cancelled() {
		return sender.PairEvent{Kind: sender.PairFailed, Err: ErrPairingCancelled}
	}
	return sender.PairEvent{Kind: sender.PairTimeout, Err: fmt.Errorf("whatsapp: no phone linked the account within %s", c.opts.PairTimeout)}
}

// paired records the new device of the account.
func (c *Connector) paired(accountID int64, jid types.JID) sender.PairEvent {
	if jid.IsEmpty() || !isPhoneDigits(jid.User) {
		return sender.PairEvent{Kind: sender.PairFailed, Err: errors.New("whatsapp: pairing reported success, but the device has no phone-number JID")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := devicePut(ctx, c.pool, accountID, jid, c.now()); err != nil {
		// The phone lists the device, but Crier cannot find it; pairing again makes another.
		c.log.Error("whatsapp: paired, but could not record the device", "account_id", accountID, "error", err.Error())
		return sender.PairEvent{Kind: sender.PairFailed, Err: err}
	}
	return sender.PairEvent{Kind: sender.PairSuccess, Phone: "+" + jid.User, Device: jid.String()}
}

// qrItemError explains a final item of whatsmeow's QR channel.
func qrItemError(item whatsmeow.QRChannelItem) error {
	switch item.Event {
	case whatsmeow.QRChannelEventError:
		if item.Error != nil {
			return scrubbed(item.Error)
		}
		return errors.New("pairing error")
	case whatsmeow.QRChannelTimeout.Event:
		return errors.New("the connection closed before a phone linked the account")
	case whatsmeow.QRChannelClientOutdated.Event:
		return errors.New(clientOutdatedReason)
	case whatsmeow.QRChannelErrUnexpectedEvent.Event:
		return errors.New("unexpected connection state (the device may be paired already)")
	}
	return fmt.Errorf("unexpected pairing event %q", item.Event)
}

// pairingStart registers p as the account's pairing, cancelling the one under way.
func (c *Connector) pairingStart(p *sender.Pairing) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if old := c.pairings[p.AccountID]; old != nil {
		old.Cancel()
	}
	c.pairings[p.AccountID] = p
	c.pairingWG.Add(1)
	return nil
}

// pairingEnd unregisters p; once per pairingStart.
func (c *Connector) pairingEnd(p *sender.Pairing) {
	c.mu.Lock()
	if c.pairings[p.AccountID] == p {
		delete(c.pairings, p.AccountID)
	}
	c.mu.Unlock()
	c.pairingWG.Done()
}
