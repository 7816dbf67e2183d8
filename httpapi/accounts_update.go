package httpapi

import (
	"net/http"

	"github.com/crierhq/crier/sender"
)

// PATCH /v1/accounts/{id}.

// accountPatchRequest is the body of PATCH /v1/accounts/{id}: the fields given change,
// the others stay. proxy_url "" removes the proxy.
type accountPatchRequest struct {
	RatePerMinute *int    `json:"rate_per_minute"`
	DailyCap      *int    `json:"daily_cap"`
	Warmup        *bool   `json:"warmup"`
	Pacing        *bool   `json:"pacing"`
	ProxyURL      *string `json:"proxy_url"`
}

// accountChangeJSON is one changed setting in the audit entry's detail.
type accountChangeJSON struct {
	Old any `json:"old"`
	New any `json:"new"`
}

// accountUpdate changes an account's sending settings, with the validation of account
// creation (sender.Accounts.Update), and answers the account as GET shows it. The audit
// entry's detail names each setting that changed, old and new (a proxy URL without its
// password). The workers use the new rate, cap and warm-up within seconds (see Update).
func (s *Server) accountUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "account")
	if err != nil {
		return err
	}
	var req accountPatchRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	a, changes, err := s.Accounts.Update(r.Context(), id, sender.AccountPatch{RatePerMinute: req.RatePerMinute,
		DailyCap: req.DailyCap, Warmup: req.Warmup, Pacing: req.Pacing, ProxyURL: req.ProxyURL})
	if err != nil {
		return err
	}
	detail := make(map[string]accountChangeJSON, len(changes))
	for _, c := range changes {
		detail[c.Field] = accountChangeJSON{Old: c.Old, New: c.New}
	}
	addDetail(r, "changes", detail)
	return writeJSON(w, http.StatusOK, s.accountOut(r.Context(), a))
}
