package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/sender"
)

// SentLog lists what a simulated network delivered: the sandbox's *sandbox.Network.
type SentLog interface {
	Messages(ctx context.Context, f sender.SentFilter) ([]sender.SentMessage, int64, error)
}

// InboundFunc takes a customer's message to one of our accounts the way a transport's
// inbound event does: the workers record it and act on it (STOP, START, HELP, replies).
// The outcome's InboundID is always set; its Class only when it was handled at once.
type InboundFunc func(ctx context.Context, in consent.Inbound) (consent.Outcome, error)

type sandboxInboundRequest struct {
	AccountID int64  `json:"account_id" validate:"required,gt=0"`
	From      string `json:"from" validate:"required"`
	Text      string `json:"text" validate:"required,max=4096"`
}

type sandboxInboundJSON struct {
	InboundID int64  `json:"inbound_id"`
	MessageID string `json:"message_id"`      // the simulated network's id of the message
	Class     string `json:"class,omitempty"` // opt_out, opt_in, help or none, once handled
	Reply     string `json:"reply,omitempty"` // the confirmation or help text due back
}

// sandboxInbound simulates a customer writing to a sandbox account, e.g. "STOP". It is for
// admins only (it speaks for a customer), and the message is recorded as simulated, by the
// caller: its STOP suppresses like any other, but its START lifts only what the sandbox
// itself suppressed.
func (s *Server) sandboxInbound(w http.ResponseWriter, r *http.Request) error {
	var req sandboxInboundRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	a, err := s.Accounts.Get(r.Context(), req.AccountID)
	if apperr.CodeOf(err) == apperr.NotFound {
		return apperr.Field("account_id", "there is no account %d", req.AccountID)
	}
	if err != nil {
		return err
	}
	if caps, _ := s.Channels.Capabilities(a.Channel); !caps.Simulated {
		simulated := s.Channels.Where(func(c sender.Capabilities) bool { return c.Simulated })
		if len(simulated) == 0 {
			return apperr.Newf(apperr.Unavailable, "there is no simulated network in this process")
		}
		return apperr.Field("account_id", "account %d is a %s account: only %s accounts take simulated messages", a.ID, a.Channel, sender.ChannelNames(simulated))
	}
	if s.Inbound == nil {
		return apperr.Newf(apperr.Unavailable, "inbound messages are not handled by this process")
	}
	var raw [8]byte
	_, _ = rand.Read(raw[:])
	in := consent.Inbound{AccountID: a.ID, From: req.From, Text: req.Text,
		ProviderID: "sbx-in-" + hex.EncodeToString(raw[:]), ReceivedAt: time.Now().UTC(), SimulatedBy: caller(r).Ref()}
	out, err := s.Inbound(r.Context(), in)
	if err != nil {
		return err
	}
	setTarget(r, "inbound", out.InboundID)
	return writeJSON(w, http.StatusAccepted, sandboxInboundJSON{InboundID: out.InboundID, MessageID: in.ProviderID,
		Class: string(out.Class), Reply: out.Reply})
}

type sandboxMessageJSON struct {
	ID        string    `json:"id"`
	AccountID int64     `json:"account_id"`
	To        string    `json:"to"`
	Text      string    `json:"text"`
	SentAt    time.Time `json:"sent_at"`
}

// sandboxMessages lists what the simulated network delivered, oldest first.
func (s *Server) sandboxMessages(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := sender.SentFilter{AfterSeq: after, Limit: limit}
	var errs []apperr.FieldError
	if to := q.Get("to"); to != "" {
		e164, _, perr := contacts.NormalizePhone(to, q.Get("default_country"))
		if perr != nil {
			errs = append(errs, apperr.FieldError{Field: "to", Message: perr.Error()})
		}
		f.To = e164
	}
	if id := q.Get("account_id"); id != "" {
		n, perr := strconv.ParseInt(id, 10, 64)
		if perr != nil || n <= 0 {
			errs = append(errs, apperr.FieldError{Field: "account_id", Message: "must be an account id"})
		}
		f.AccountID = n
	}
	if err := apperr.Fields(errs...); err != nil {
		return err
	}
	list, next, err := s.Sandbox.Messages(r.Context(), f)
	if err != nil {
		return err
	}
	// The text holds what templates filled in (names, emails): masked like the number for
	// a role without contacts:pii; a read in clear is audited.
	pii, err := s.piiRead(r, "sandbox.messages.read", "account", f.AccountID, map[string]any{"messages": len(list), "by_number": f.To != ""})
	if err != nil {
		return err
	}
	out := make([]sandboxMessageJSON, len(list))
	for i, m := range list {
		out[i] = sandboxMessageJSON{ID: m.ID, AccountID: m.AccountID, To: m.To, Text: m.Text, SentAt: m.SentAt.UTC()}
		if !pii {
			out[i].To, out[i].Text = contacts.MaskPhone(m.To), contacts.MaskText(m.Text)
		}
	}
	return writeJSON(w, http.StatusOK, listResponse[sandboxMessageJSON]{Data: out, NextCursor: cursor(next)})
}
