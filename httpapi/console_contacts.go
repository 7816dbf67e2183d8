package httpapi

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/crierhq/crier/audit"
	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
)

// The console's contact pages (contacts, one contact, an agent's lookup) and its
// compliance pages (suppressions, the audit log). They read through the same services and
// shape their data with the same helpers as the API routes they mirror (contactOut,
// ledgerOut, suppressionOut), and a read of personal data in clear is audited exactly as
// the API audits it. Every list is a keyset page with a LIMIT: fast at a million contacts.

// consolePageSize is how many rows a console list shows a page.
const consolePageSize = 50

// ledgerPageSize is how many ledger entries the contact page shows; the export has all.
const ledgerPageSize = 100

// withdrawalSources are the sources a console user may give a withdrawal: how the
// customer said so. A compliance record needs typed evidence and is the API's.
var withdrawalSources = []consent.Source{consent.SourceAgent, consent.SourceForm, consent.SourceAPI}

// contactRow is one line of the contacts list.
type contactRow struct {
	contactJSON
	Consent string // whatsapp marketing: granted, withdrawn, or "" for none recorded
}

type contactsPage struct {
	Tag, Phone string
	Rows       []contactRow
	Next       string // the next page's cursor; "" on the last page
	Paged      bool   // this is not the first page
	// ByPhone is a search by number. A role that sees numbers masked learns only whether a
	// contact has the number (Masked, Found), as from GET /v1/contacts?phone=.
	ByPhone, Masked, Found bool
	Problem                string // a search the API would refuse (a malformed number or tag)
}

// pageContacts lists the contacts, a page at a time, optionally by tag or by exact number
// (normalised and matched as GET /v1/contacts?phone= does). Its reads are audited as that
// route's: a role that sees numbers in clear records every page, and a masked role's
// search by number records the lookup and sees only whether the number is a contact's.
func (s *Server) pageContacts(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	data := contactsPage{Tag: q.Get("tag"), Phone: q.Get("phone"), Paged: after > 0}
	data.ByPhone = data.Phone != ""
	limit = min(limit, consolePageSize)
	list, next, err := s.Contacts.List(r.Context(), contacts.ListParams{
		Tag: data.Tag, Phone: data.Phone, DefaultCountry: q.Get("default_country"), AfterID: after, Limit: limit,
	})
	if msg, ok := fieldProblem(err); ok {
		data.Problem = msg
		return s.render(w, r, "contacts", "Contacts", data)
	}
	if err != nil {
		return err
	}
	if data.ByPhone && !caller(r).Role.Can(auth.ContactsPII) {
		if err := s.auditRead(r, "contact.lookup", "contact", "", map[string]any{"found": len(list) > 0}); err != nil {
			return err
		}
		data.Masked, data.Found = true, len(list) > 0
		return s.render(w, r, "contacts", "Contacts", data)
	}
	detail := map[string]any{"contacts": len(list), "by_phone": data.ByPhone}
	if len(list) > 0 {
		detail["first_id"], detail["last_id"] = list[0].ID, list[len(list)-1].ID
	}
	if _, err := s.piiRead(r, "contact.list", "contact", "", detail); err != nil {
		return err
	}
	if c := cursor(next); c != nil {
		data.Next = *c
	}
	data.Rows = make([]contactRow, len(list))
	for i, c := range list {
		data.Rows[i] = contactRow{contactJSON: contactOut(r, c)}
	}
	if err := s.fillConsent(r.Context(), data.Rows); err != nil {
		return err
	}
	return s.render(w, r, "contacts", "Contacts", data)
}

// fillConsent sets each row's marketing consent on WhatsApp, in one query.
func (s *Server) fillConsent(ctx context.Context, rows []contactRow) error {
	if len(rows) == 0 {
		return nil
	}
	ids := make([]int64, len(rows))
	for i, row := range rows {
		ids[i] = row.ID
	}
	states, err := s.Consent.States(ctx, ids)
	if err != nil {
		return err
	}
	for i := range rows {
		rows[i].Consent = marketingState(states[rows[i].ID])
	}
	return nil
}

// marketingState is the state that decides whether a contact gets campaigns.
func marketingState(states []consent.State) string {
	for _, st := range states {
		if st.Channel == consent.WhatsApp && st.Purpose == consent.Marketing {
			return string(st.Status)
		}
	}
	return ""
}

// ledgerRow is a ledger entry with its evidence written out for the page.
type ledgerRow struct {
	ledgerJSON
	EvidenceText string
}

// tagLink is a tag and the path segment that removes it.
type tagLink struct {
	Name, Path string
}

type contactPage struct {
	Contact    contactJSON
	Attributes string // compact JSON, "" for none
	Tags       []tagLink
	// Consent is the current state per channel and purpose and the ledger, newest first,
	// for a role with consent:read (Ledger is nil without it).
	Current    []stateJSON
	Ledger     []ledgerRow
	LedgerMore bool
}

// pageContact shows one contact: its facts (masked as GET /v1/contacts/{id} masks them),
// its tags, and, for roles with consent:read, its consent ledger with the evidence masked
// as GET /v1/contacts/{id}/consent masks it. Each read in clear is audited as the API's.
func (s *Server) pageContact(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "contact")
	if err != nil {
		return err
	}
	c, err := s.Contacts.Get(r.Context(), id)
	if err != nil {
		return err
	}
	if _, err := s.piiRead(r, "contact.read", "contact", c.ID, nil); err != nil {
		return err
	}
	data := contactPage{Contact: contactOut(r, c)}
	data.Attributes = compactJSON(data.Contact.Attributes)
	for _, t := range data.Contact.Tags {
		data.Tags = append(data.Tags, tagLink{Name: t, Path: url.PathEscape(t)})
	}
	if caller(r).Role.Can(auth.ConsentRead) {
		if err := s.contactConsent(r, id, &data); err != nil {
			return err
		}
	}
	title := data.Contact.Name
	if title == "" {
		title = "Contact " + strconv.FormatInt(id, 10)
	}
	return s.render(w, r, "contact", title, data)
}

// contactConsent reads a contact's consent states and newest ledger entries into the
// page, auditing the read in clear as consentHistory does.
func (s *Server) contactConsent(r *http.Request, id int64, data *contactPage) error {
	entries, states, err := s.Consent.History(r.Context(), id, ledgerPageSize+1)
	if err != nil {
		return err
	}
	if len(entries) > ledgerPageSize {
		entries, data.LedgerMore = entries[:ledgerPageSize], true
	}
	clear, err := s.piiRead(r, "consent.read", "contact", id, map[string]any{"entries": len(entries)})
	if err != nil {
		return err
	}
	data.Current = statesOut(states)
	data.Ledger = make([]ledgerRow, len(entries))
	for i, e := range entries {
		row := ledgerRow{ledgerJSON: ledgerOut(e)}
		if !clear {
			row.Evidence, _ = contacts.MaskValue(e.Evidence).(map[string]any)
		}
		row.EvidenceText = compactJSON(row.Evidence)
		data.Ledger[i] = row
	}
	return nil
}

func statesOut(states []consent.State) []stateJSON {
	out := make([]stateJSON, len(states))
	for i, st := range states {
		out[i] = stateJSON{Channel: st.Channel, Purpose: st.Purpose, Status: st.Status, LedgerID: st.LedgerID, UpdatedAt: st.UpdatedAt.UTC()}
	}
	return out
}

type lookupPage struct {
	Phone    string
	Problem  string
	Searched bool
	Contact  *contactJSON
	Current  []stateJSON
}

// pageLookup is an agent's page: one number in, that one contact out, in clear, with its
// consent and the form to record a withdrawal. The read is audited exactly as GET
// /v1/contacts?phone= audits it for a role that sees numbers; nothing else is listed.
func (s *Server) pageLookup(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	data := lookupPage{Phone: q.Get("phone")}
	if data.Phone == "" {
		return s.render(w, r, "lookup", "Look up a contact", data)
	}
	data.Searched = true
	list, _, err := s.Contacts.List(r.Context(), contacts.ListParams{
		Phone: data.Phone, DefaultCountry: q.Get("default_country"), Limit: 1,
	})
	if msg, ok := fieldProblem(err); ok {
		data.Problem = msg
		return s.render(w, r, "lookup", "Look up a contact", data)
	}
	if err != nil {
		return err
	}
	detail := map[string]any{"contacts": len(list), "by_phone": true}
	if len(list) > 0 {
		detail["first_id"], detail["last_id"] = list[0].ID, list[0].ID
	}
	if _, err := s.piiRead(r, "contact.list", "contact", "", detail); err != nil {
		return err
	}
	if len(list) > 0 {
		c := contactOut(r, list[0])
		data.Contact = &c
		// The states only (no ledger entry, so no evidence): what decides the messages.
		_, states, err := s.Consent.History(r.Context(), c.ID, 0)
		if err != nil {
			return err
		}
		data.Current = statesOut(states)
	}
	return s.render(w, r, "lookup", "Look up a contact", data)
}

type suppressionsPage struct {
	Phone   string // the number searched for, normalised
	Problem string
	Rows    []suppressionJSON
	Next    string
	Paged   bool
	Reasons []consent.SuppressionReason
	// Removable: the number searched for has a staff suppression, which staff may remove.
	Removable bool
}

// pageSuppressions lists the do-not-contact list by hash, a page at a time, or the
// entries of one number, hashed on the server as GET /v1/suppressions?phone= does.
func (s *Server) pageSuppressions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	data := suppressionsPage{Phone: q.Get("phone"),
		Reasons: []consent.SuppressionReason{consent.ReasonManual, consent.ReasonComplaint, consent.ReasonLegal}}
	if data.Phone != "" {
		e164, _, err := contacts.NormalizePhone(data.Phone, q.Get("default_country"))
		if err != nil {
			data.Problem = "phone: " + err.Error()
			return s.render(w, r, "suppressions", "Suppressions", data)
		}
		data.Phone = e164
		list, err := s.Consent.Suppressed(r.Context(), e164)
		if err != nil && apperr.CodeOf(err) != apperr.NotFound {
			return err
		}
		data.Rows = suppressionsOut(list, e164)
		for _, sup := range list {
			data.Removable = data.Removable || sup.Source == consent.SourceStaff
		}
		return s.render(w, r, "suppressions", "Suppressions", data)
	}
	var after *consent.SuppressionCursor
	if c := q.Get("cursor"); c != "" {
		h, p, _ := strings.Cut(c, ".")
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 || !slices.Contains(consent.Purposes, consent.Purpose(p)) {
			return apperr.Field("cursor", "is not a cursor this page returned")
		}
		after = &consent.SuppressionCursor{PhoneHash: b, Purpose: consent.Purpose(p)}
		data.Paged = true
	}
	list, next, err := s.Consent.Suppressions(r.Context(), after, consolePageSize)
	if err != nil {
		return err
	}
	data.Rows = suppressionsOut(list, "")
	if next != nil {
		data.Next = hex.EncodeToString(next.PhoneHash) + "." + string(next.Purpose)
	}
	return s.render(w, r, "suppressions", "Suppressions", data)
}

// auditRow is an audit entry as the page shows it.
type auditRow struct {
	auditJSON
	UserID     string // the acting user's id, "" for an API key
	DetailText string
}

type auditPage struct {
	Action, TargetType, TargetID, ActorKeyID, ActorUserID string
	Rows                                                  []auditRow
	Next                                                  string
	Paged                                                 bool
}

// pageAudit pages through the audit log, newest first, with GET /v1/audit's filters.
func (s *Server) pageAudit(w http.ResponseWriter, r *http.Request) error {
	limit, before, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	data := auditPage{Action: q.Get("action"), TargetType: q.Get("target_type"), TargetID: q.Get("target_id"),
		ActorKeyID: q.Get("actor_key_id"), ActorUserID: q.Get("actor_user_id"), Paged: before > 0}
	var userID int64
	if data.ActorUserID != "" {
		if userID, err = strconv.ParseInt(data.ActorUserID, 10, 64); err != nil || userID <= 0 {
			return apperr.Field("actor_user_id", "must be a user id")
		}
	}
	list, next, err := s.Audit.List(r.Context(), audit.ListParams{
		BeforeID: before, Limit: min(limit, consolePageSize), TargetType: data.TargetType, TargetID: data.TargetID,
		ActorKeyID: data.ActorKeyID, ActorUserID: userID, Action: data.Action,
	})
	if err != nil {
		return err
	}
	if c := cursor(next); c != nil {
		data.Next = *c
	}
	data.Rows = make([]auditRow, len(list))
	for i, e := range list {
		row := auditRow{auditJSON: auditJSON{ID: e.ID, At: e.At.UTC(), ActorKeyID: e.ActorKeyID, Actor: e.Actor,
			Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID, RequestID: e.RequestID,
			Status: e.Status, Detail: e.Detail}}
		if e.ActorUserID != 0 {
			row.ActorUser = &e.ActorUserID
			row.UserID = strconv.FormatInt(e.ActorUserID, 10)
		}
		if len(e.Detail) > 0 {
			row.DetailText = compactJSON(e.Detail)
		}
		data.Rows[i] = row
	}
	return s.render(w, r, "audit", "Audit log", data)
}

// compactJSON writes a small JSON object on one line for a table cell.
func compactJSON(v map[string]any) string {
	if len(v) == 0 {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// fieldProblem turns a search the service refused as invalid (a malformed number or tag)
// into a line the page shows beside its search form, rather than an error page.
func fieldProblem(err error) (string, bool) {
	var e *apperr.Error
	if err == nil || !errors.As(err, &e) || e.Code != apperr.Invalid || len(e.Fields) == 0 {
		return "", false
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return strings.Join(parts, "; "), true
}
