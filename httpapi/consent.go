package httpapi

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

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

type stateJSON struct {
	Channel   consent.Channel `json:"channel"`
	Purpose   consent.Purpose `json:"purpose"`
	Status    consent.Status  `json:"status"`
	LedgerID  int64           `json:"ledger_id"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// consentRecord appends a consent decision taken outside Crier: a form, an agent on the
// customer's behalf, another system. Keyword and import entries are Crier's own.
func (s *Server) consentRecord(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "contact")
	if err != nil {
		return err
	}
	var req consentRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Source == consent.SourceKeyword || req.Source == consent.SourceImport {
		return apperr.Field("source", "must be form, agent or api: %s entries are made by Crier itself", req.Source)
	}
	c := consent.Change{ContactID: id, Channel: req.Channel, Purpose: req.Purpose, Status: req.Status, Source: req.Source,
		Evidence: req.Evidence, Actor: "key:" + caller(r).ID}
	if req.OccurredAt != nil {
		c.OccurredAt = *req.OccurredAt
	}
	e, err := s.Consent.Record(r.Context(), c)
	if err != nil {
		return err
	}
	addDetail(r, "ledger_id", e.ID)
	addDetail(r, "status", e.Status)
	addDetail(r, "lifted_suppression", e.LiftedSuppression)
	return writeJSON(w, http.StatusCreated, ledgerOut(e))
}

func (s *Server) consentHistory(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "contact")
	if err != nil {
		return err
	}
	entries, states, err := s.Consent.History(r.Context(), id, 1000)
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
	}
	return writeJSON(w, http.StatusOK, out)
}

type suppressionJSON struct {
	PhoneHash string                    `json:"phone_hash"`
	Phone     string                    `json:"phone,omitempty"` // only when looked up by phone
	Reason    consent.SuppressionReason `json:"reason"`
	Source    string                    `json:"source"`
	CreatedAt time.Time                 `json:"created_at"`
}

func suppressionOut(sup consent.Suppression, phone string) suppressionJSON {
	return suppressionJSON{PhoneHash: sup.HashHex(), Phone: phone, Reason: sup.Reason, Source: sup.Source, CreatedAt: sup.CreatedAt.UTC()}
}

// suppressionList pages through the do-not-contact list (hashes only), or looks one
// number up with ?phone=.
func (s *Server) suppressionList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if phone := q.Get("phone"); phone != "" {
		e164, _, err := contacts.NormalizePhone(phone, q.Get("default_country"))
		if err != nil {
			return apperr.Field("phone", "%s", err)
		}
		sup, err := s.Consent.Suppressed(r.Context(), e164)
		if apperr.CodeOf(err) == apperr.NotFound {
			return writeJSON(w, http.StatusOK, listResponse[suppressionJSON]{Data: []suppressionJSON{}})
		}
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, listResponse[suppressionJSON]{Data: []suppressionJSON{suppressionOut(sup, e164)}})
	}
	limit := 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return apperr.Field("limit", "must be an integer from 1 to 1000")
		}
		limit = n
	}
	var after []byte
	if c := q.Get("cursor"); c != "" {
		b, err := hex.DecodeString(c)
		if err != nil || len(b) != 32 {
			return apperr.Field("cursor", "is not a cursor this API returned")
		}
		after = b
	}
	list, next, err := s.Consent.Suppressions(r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := listResponse[suppressionJSON]{Data: make([]suppressionJSON, len(list))}
	for i, sup := range list {
		out.Data[i] = suppressionOut(sup, "")
	}
	if next != nil {
		c := hex.EncodeToString(next)
		out.NextCursor = &c
	}
	return writeJSON(w, http.StatusOK, out)
}

type suppressionRequest struct {
	Phone  string `json:"phone" validate:"required"`
	Reason string `json:"reason" validate:"omitempty,oneof=manual complaint legal"`
}

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
	sup, added, err := s.Consent.Suppress(r.Context(), e164, reason, "key:"+caller(r).ID)
	if err != nil {
		return err
	}
	setTarget(r, "suppression", sup.HashHex()[:16])
	addDetail(r, "reason", sup.Reason)
	addDetail(r, "added", added)
	status := http.StatusOK
	if added {
		status = http.StatusCreated
	}
	return writeJSON(w, status, suppressionOut(sup, e164))
}

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
