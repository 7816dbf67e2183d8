package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
)

// The replies inbox: /v1/replies.

// replyJSON is a customer's reply as the API shows it. Phone and text are masked for roles
// without contacts:pii, as the sandbox's messages are.
type replyJSON struct {
	ID         int64      `json:"id"`
	AccountID  int64      `json:"account_id"`
	ContactID  *int64     `json:"contact_id"`
	CampaignID *int64     `json:"campaign_id"`
	DeliveryID *int64     `json:"delivery_id"`
	Class      *string    `json:"class"` // null until the message is processed
	Text       string     `json:"text"`
	Phone      string     `json:"phone"`
	ReceivedAt time.Time  `json:"received_at"`
	Handled    bool       `json:"handled"`
	HandledAt  *time.Time `json:"handled_at"`
	HandledBy  string     `json:"handled_by"`
}

func replyOut(r consent.InboxReply, pii bool) replyJSON {
	out := replyJSON{ID: r.ID, AccountID: r.AccountID, ContactID: r.ContactID, CampaignID: r.CampaignID,
		DeliveryID: r.DeliveryID, Text: r.Text, Phone: r.Phone, ReceivedAt: r.ReceivedAt.UTC(),
		Handled: r.Handled(), HandledBy: r.HandledBy}
	if r.Class != "" {
		c := string(r.Class)
		out.Class = &c
	}
	if r.HandledAt != nil {
		at := r.HandledAt.UTC()
		out.HandledAt = &at
	}
	if !pii {
		out.Phone, out.Text = contacts.MaskPhone(r.Phone), contacts.MaskText(r.Text)
	}
	return out
}

// replyList pages through the replies, newest first, filtered by campaign, account,
// contact and handled state. A role with contacts:pii sees the numbers and texts in clear,
// and each page it reads is audited (reply.list); the others see them masked.
func (s *Server) replyList(w http.ResponseWriter, r *http.Request) error {
	limit, before, err := page(r)
	errs := apperr.FieldsOf(err) // reported with the filters' errors
	q := r.URL.Query()
	f := consent.ReplyFilter{Cursor: before, Limit: limit}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"campaign_id", &f.CampaignID}, {"account_id", &f.AccountID}, {"contact_id", &f.ContactID}} {
		if v := q.Get(p.name); v != "" {
			n, perr := strconv.ParseInt(v, 10, 64)
			if perr != nil || n <= 0 {
				errs = append(errs, apperr.FieldError{Field: p.name, Message: "must be a positive integer id"})
			}
			*p.dst = n
		}
	}
	switch v := q.Get("handled"); v {
	case "":
	case "true", "false":
		h := v == "true"
		f.Handled = &h
	default:
		errs = append(errs, apperr.FieldError{Field: "handled", Message: "must be true or false"})
	}
	if err := apperr.Fields(errs...); err != nil {
		return err
	}
	list, next, err := s.Consent.ReplyList(r.Context(), f)
	if err != nil {
		return err
	}
	detail := map[string]any{"replies": len(list)}
	if len(list) > 0 {
		detail["first_id"], detail["last_id"] = list[0].ID, list[len(list)-1].ID
	}
	pii, err := s.piiRead(r, "reply.list", "reply", "", detail)
	if err != nil {
		return err
	}
	out := make([]replyJSON, len(list))
	for i, rep := range list {
		out[i] = replyOut(rep, pii)
	}
	return writeJSON(w, http.StatusOK, listResponse[replyJSON]{Data: out, NextCursor: cursor(next)})
}

// replyHandled marks a reply handled by the caller and answers it as GET shows it; marking
// it again changes nothing (its first handler stays). The route's audit entry (reply.handled)
// records whether it changed; the reply answered in clear is a read of personal data, and
// is audited as such too.
func (s *Server) replyHandled(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "reply")
	if err != nil {
		return err
	}
	rep, changed, err := s.Consent.ReplyHandle(r.Context(), id, caller(r).Ref())
	if err != nil {
		return err
	}
	addDetail(r, "changed", changed)
	pii, err := s.piiRead(r, "reply.read", "reply", rep.ID, nil)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, replyOut(rep, pii))
}
