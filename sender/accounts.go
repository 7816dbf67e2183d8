package sender

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/internal/apperr"
)

// AccountPatch changes an account's sending settings (PATCH /v1/accounts/{id}). Nil fields
// stay as they are.
type AccountPatch struct {
	RatePerMinute *int
	DailyCap      *int // 0: no cap
	Warmup        *bool
	Pacing        *bool
	ProxyURL      *string // "": no proxy; only whatsapp accounts go through one
}

// AccountChange is one setting an Update changed. A proxy URL is shown as RedactProxyURL
// shows it, never with its password.
type AccountChange struct {
	Field string
	Old   any
	New   any
}

// maxRate is the largest per-minute rate of a channel's accounts, as Create allows it.
func maxRate(ch Channel) int {
	switch ch {
	case Sandbox:
		return maxSandboxRate
	case WhatsAppCloud:
		return maxCloudRate
	}
	return maxWhatsAppRate
}

// validate checks the patch for an account of channel ch with the rules of Create.
func (p AccountPatch) validate(ch Channel) error {
	var errs []apperr.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, apperr.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if p.RatePerMinute != nil && (*p.RatePerMinute < 1 || *p.RatePerMinute > maxRate(ch)) {
		bad("rate_per_minute", "must be from 1 to %d for a %s account", maxRate(ch), ch)
	}
	if p.DailyCap != nil && *p.DailyCap < 0 {
		bad("daily_cap", "must be 0 (no cap) or more")
	}
	if p.ProxyURL != nil && *p.ProxyURL != "" {
		// Only whatsmeow dials out through a proxy: the Cloud API is Meta's HTTPS endpoint
		// and the sandbox dials nothing, so a proxy there would be stored and never used.
		if ch != WhatsApp {
			bad("proxy_url", "is only for %s accounts, and this is a %s account", WhatsApp, ch)
		} else if err := checkProxy(*p.ProxyURL); err != nil {
			bad("proxy_url", "%s", err)
		}
	}
	return apperr.Fields(errs...)
}

// Update changes an account's sending settings, validated as Create validates them, and
// returns the account and what changed (nothing, when every field given has its value
// already: then nothing is written). A deleted account is not found.
//
// Turning warm-up on starts the ramp today if it never started; an account still waiting
// to be paired starts it when it is paired (SetPaired). Running workers learn the new rate,
// cap and warm-up at their Manager's next read of the accounts (ManagerOptions.Refresh, 3 s
// by default), and the dispatcher reads the rate from here at its next pass; a new proxy or
// pacing is used from the account's next connection.
func (s *Accounts) Update(ctx context.Context, id int64, p AccountPatch) (Account, []AccountChange, error) {
	var a Account
	var changes []AccountChange
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		old, err := scanAccount(tx.QueryRow(ctx, `
			SELECT `+accountColumns+` FROM accounts WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`, id))
		if err != nil {
			return interpretError(err, id)
		}
		if err := p.validate(old.Channel); err != nil {
			return err
		}
		a = old
		change := func(field string, oldV, newV any) {
			if oldV != newV {
				changes = append(changes, AccountChange{Field: field, Old: oldV, New: newV})
			}
		}
		if p.RatePerMinute != nil {
			change("rate_per_minute", old.RatePerMinute, *p.RatePerMinute)
			a.RatePerMinute = *p.RatePerMinute
		}
		if p.DailyCap != nil {
			change("daily_cap", old.DailyCap, *p.DailyCap)
			a.DailyCap = *p.DailyCap
		}
		if p.Warmup != nil {
			change("warmup", old.Warmup, *p.Warmup)
			a.Warmup = *p.Warmup
		}
		if p.Pacing != nil {
			change("pacing", old.Pacing, *p.Pacing)
			a.Pacing = *p.Pacing
		}
		if p.ProxyURL != nil && *p.ProxyURL != old.ProxyURL {
			// Shown without the password: a new password alone shows the same URL twice.
			changes = append(changes, AccountChange{Field: "proxy_url", Old: RedactProxyURL(old.ProxyURL), New: RedactProxyURL(*p.ProxyURL)})
			a.ProxyURL = *p.ProxyURL
		}
		if len(changes) == 0 {
			return nil
		}
		var warmupStart *time.Time
		if a.Warmup && old.WarmupStart.IsZero() && old.Status != StatusPendingPair {
			today := s.now().UTC()
			warmupStart = &today
		}
		a, err = scanAccount(tx.QueryRow(ctx, `
			UPDATE accounts SET rate_per_minute = $2, daily_cap = $3, warmup = $4, pacing = $5, proxy_url = $6,
				warmup_started_on = coalesce(warmup_started_on, $7::date), updated_at = now()
			WHERE id = $1
			RETURNING `+accountColumns, id, a.RatePerMinute, a.DailyCap, a.Warmup, a.Pacing, a.ProxyURL, warmupStart))
		return err
	})
	if err != nil {
		return Account{}, nil, fmt.Errorf("sender: update account %d: %w", id, err)
	}
	return a, changes, nil
}
