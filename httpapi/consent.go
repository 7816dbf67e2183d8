package httpapi

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
)

type consentRequest struct {
	Channel    consent.Channel `json:"channel"`
	Purpose    consent.Purpose `json:"purpose"`
	Status     consent.Status  `json:"status" validate:"required"`
	Source     consent.Source  `json:"source" validate:"required"`
	Evidence   map[string]any  `json:"evidence"`
	OccurredAt *time.Time      `json:"occurred_at"`
}

type ledgerJSON struct {
	ID                int64           `json:"id"`
	Channel           consent.Channel `json:"channel"`
	Purpose           consent.Purpose `json:"purpose"`
	Status            consent.Status  `json:"status"`
	Source            consent.Source  `json:"source"`
	Evidence          map[string]any  `json:"evidence"`
	Actor             string          `json:"actor"`
	OccurredAt        time.Time       `json:"occurred_at"`
	RecordedAt        time.Time       `json:"recorded_at"`
	LiftedSuppression bool            `json:"lifted_suppression"`
}

func ledgerOut(e consent.Entry) ledgerJSON {
	return ledgerJSON{ID: e.ID, Channel: e.Channel, Purpose: e.Purpose, Status: e.Status, Source: e.Source,
		Evidence: e.Evidence, Actor: e.Actor, OccurredAt: e.OccurredAt.UTC(), RecordedAt: e.RecordedAt.UTC(),
		LiftedSuppression: e.LiftedSuppression}
}

// recordedJSON is a new ledger entry, and the suppression that keeps the number from
// messages of its purpose afterwards: null, the one a withdrawal added, or the one a grant
// could not lift, with a notice that says so and what would lift it.
type recordedJSON struct {
	ledgerJSON
	Suppression *suppressionJSON `json:"suppression"`
	Notice      string           `json:"notice,omitempty"`
}

type stateJSON struct {
	Channel   consent.Channel `json:"channel"`
	Purpose   consent.Purpose `json:"purpose"`
	Status    consent.Status  `json:"status"`
	LedgerID  int64           `json:"ledger_id"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// consentRecord appends a consent decision taken outside Crier: a form, an agent on the
// customer's behalf, another system, or a compliance officer with typed evidence.
// Keyword, sandbox, channel and import entries are Crier's own. Who may record what is the
// permission table's: a withdrawal needs consent:withdraw (the route's), a grant
// consent:write, a compliance record consent:lift.
func (s *Server) consentRecord(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "contact")
	if err != nil {
		return err
	}
	var req consentRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if !slices.Contains(consent.APISources, req.Source) {
		return apperr.Field("source", "must be form, agent, api or compliance: %s entries are made by Crier itself", req.Source)
	}
	role := caller(r).Role
	for _, need := range []struct {
		when bool
		perm auth.Permission
		what string
	}{
		{req.Status == consent.Granted, auth.ConsentWrite, "record a grant"},
		{req.Source == consent.SourceCompliance, auth.ConsentLift, "record a compliance entry, which lifts an opt-out"},
	} {
		if need.when && !role.Can(need.perm) {
			return errStatus(http.StatusForbidden, "forbidden",
				fmt.Sprintf("the %s role may not %s (it needs the %s permission)", role, need.what, need.perm))
		}
	}
	c := consent.Change{ContactID: id, Channel: req.Channel, Purpose: req.Purpose, Status: req.Status, Source: req.Source,
		Evidence: req.Evidence, Actor: caller(r).Ref()}
	if req.OccurredAt != nil {
		c.OccurredAt = *req.OccurredAt
	}
	rec, err := s.Consent.Record(r.Context(), c)
	if err != nil {
		return err
	}
	addDetail(r, "ledger_id", rec.ID)
	addDetail(r, "status", rec.Status)
	addDetail(r, "source", rec.Source)
	addDetail(r, "lifted_suppression", rec.LiftedSuppression)
	out := recordedJSON{ledgerJSON: ledgerOut(rec.Entry)}
	if sup := rec.Suppression; sup != nil {
		j := suppressionOut(*sup, "")
		out.Suppression = &j
		addDetail(r, "still_suppressed", rec.Status == consent.Granted)
		if rec.Status == consent.Granted {
			out.Notice = fmt.Sprintf("the grant is recorded, but the number stays suppressed for %s (%s, from %s) and gets no such messages; what lifts it: %s",
				sup.Purpose, sup.Reason, sup.Source, sup.LiftedBy())
		}
	}
	return writeJSON(w, http.StatusCreated, out)
}

// consentHistory answers a contact's ledger. Evidence can hold an email, an IP address or a
// number: a role without contacts:pii sees it masked, and a read in clear is audited.
func (s *Server) consentHistory(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "contact")
	if err != nil {
		return err
	}
	entries, states, err := s.Consent.History(r.Context(), id, 1000)
	if err != nil {
		return err
	}
	clear, err := s.piiRead(r, "consent.read", "contact", id, map[string]any{"entries": len(entries)})
	if err != nil {
		return err
	}
	out := struct {
		Current []stateJSON  `json:"current"`
		Ledger  []ledgerJSON `json:"ledger"`
	}{Current: make([]stateJSON, len(states)), Ledger: make([]ledgerJSON, len(entries))}
	for i, st := range states {
		out.Current[i] = stateJSON{Channel: st.Channel, Purpose: st.Purpose, Status: st.Status, LedgerID: st.LedgerID, UpdatedAt: st.UpdatedAt.UTC()}
	}
	for i, e := range entries {
		out.Ledger[i] = ledgerOut(e)
		if !clear {
			out.Ledger[i].Evidence, _ = contacts.MaskValue(e.Evidence).(map[string]any)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

type suppressionJSON struct {
	PhoneHash string                    `json:"phone_hash"`
	Phone     string                    `json:"phone,omitempty"` // only when looked up by phone
	Purpose   consent.Purpose           `json:"purpose"`
	Reason    consent.SuppressionReason `json:"reason"`
	Source    consent.Source            `json:"source"`
	Actor     string                    `json:"actor"`
	LiftedBy  string                    `json:"lifted_by"`
	CreatedAt time.Time                 `json:"created_at"`
}

func suppressionOut(sup consent.Suppression, phone string) suppressionJSON {
	return suppressionJSON{PhoneHash: sup.HashHex(), Phone: phone, Purpose: sup.Purpose, Reason: sup.Reason, Source: sup.Source,
		Actor: sup.Actor, LiftedBy: sup.LiftedBy(), CreatedAt: sup.CreatedAt.UTC()}
}

func suppressionsOut(list []consent.Suppression, phone string) []suppressionJSON {
	out := make([]suppressionJSON, len(list))
	for i, sup := range list {
		out[i] = suppressionOut(sup, phone)
	}
	return out
}

// suppressionList pages through the do-not-contact list (hashes only, one entry per
// number and purpose), or looks one number up with ?phone=.
func (s *Server) suppressionList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if phone := q.Get("phone"); phone != "" {
		e164, _, err := contacts.NormalizePhone(phone, q.Get("default_country"))
		if err != nil {
			return apperr.Field("phone", "%s", err)
		}
		list, err := s.Consent.Suppressed(r.Context(), e164)
		if apperr.CodeOf(err) == apperr.NotFound {
			return writeJSON(w, http.StatusOK, listResponse[suppressionJSON]{Data: []suppressionJSON{}})
		}
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, listResponse[suppressionJSON]{Data: suppressionsOut(list, e164)})
	}
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return apperr.Field("limit", "must be an integer from 1 to 1000")
		}
		limit = n
	}
	var after *consent.SuppressionCursor
	if c := q.Get("cursor"); c != "" {
		h, p, _ := strings.Cut(c, ".")
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 || !slices.Contains(consent.Purposes, consent.Purpose(p)) {
			return apperr.Field("cursor", "is not a cursor this API returned")
		}
		after = &consent.SuppressionCursor{PhoneHash: b, Purpose: consent.Purpose(p)}
	}
	list, next, err := s.Consent.Suppressions(r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := listResponse[suppressionJSON]{Data: suppressionsOut(list, "")}
	if next != nil {
		c := hex.EncodeToString(next.PhoneHash) + "." + string(next.Purpose)
		out.NextCursor = &c
	}
	return writeJSON(w, http.StatusOK, out)
}

type suppressionRequest struct {
	Phone  string `json:"phone" validate:"required"`
	Reason string `json:"reason" validate:"omitempty,oneof=manual complaint legal"`
}

// suppressionAdd puts a number on the list for every purpose, as staff.
func (s *Server) suppressionAdd(w http.ResponseWriter, r *http.Request) error {
	var req suppressionRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	e164, _, err := contacts.NormalizePhone(req.Phone, r.URL.Query().Get("default_country"))
	if err != nil {
		return apperr.Field("phone", "%s", err)
	}
	reason := consent.SuppressionReason(req.Reason)
	if reason == "" {
		reason = consent.ReasonManual
	}
	list, added, err := s.Consent.Suppress(r.Context(), e164, reason, caller(r).Ref())
	if err != nil {
		return err
	}
	setTarget(r, "suppression", hex.EncodeToString(s.Consent.PhoneHash(e164))[:16])
	addDetail(r, "reason", reason)
	addDetail(r, "added", added)
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	return writeJSON(w, status, listResponse[suppressionJSON]{Data: suppressionsOut(list, e164)})
}

// suppressionRemove takes off the list what staff put there; a customer's opt-out or
// erasure is refused (409), as only the customer lifts it.
func (s *Server) suppressionRemove(w http.ResponseWriter, r *http.Request) error {
	e164, _, err := contacts.NormalizePhone(r.PathValue("phone"), r.URL.Query().Get("default_country"))
	if err != nil {
		return apperr.Field("phone", "%s", err)
	}
	setTarget(r, "suppression", hex.EncodeToString(s.Consent.PhoneHash(e164))[:16])
	if err := s.Consent.Unsuppress(r.Context(), e164); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// contactExport returns everything held about a contact (GDPR Art. 15 and 20).
func (s *Server) contactExport(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "contact")
	if err != nil {
		return err
	}
	exp, err := s.Privacy.Export(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Disposition", "attachment; filename=contact-"+strconv.FormatInt(id, 10)+".json")
	return writeJSON(w, http.StatusOK, exp)
}

// contactErase erases a contact everywhere (GDPR Art. 17); only the keyed hash of the
// number stays, on the suppression list.
func (s *Server) contactErase(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "contact")
	if err != nil {
		return err
	}
	if err := s.Privacy.Erase(r.Context(), id); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"contact_id": id, "erased": true})
}
