package campaigns

import (
	"context"
	"fmt"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/delivery"
)

var _ consent.PendingCanceller = (*Service)(nil)

// CancelPending cancels a contact's queued deliveries, in every campaign, with reason as
// their skip reason (delivery.SkipOptedOut when empty; the consent package passes "opted_out" or
// "suppressed"). It implements consent.PendingCanceller: an opt-out calls it so that
// nothing queued goes out. A delivery a worker already holds (sending) is left to that
// worker, which checks consent again just before it sends (DESIGN §3, invariant 2).
func (s *Service) CancelPending(ctx context.Context, contactID int64, reason string) (int64, error) {
	if reason == "" {
		reason = string(delivery.SkipOptedOut)
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE deliveries SET status = 'cancelled', skip_reason = $2, updated_at = now()
		WHERE contact_id = $1 AND status = 'queued'`, contactID, reason)
	if err != nil {
		return 0, fmt.Errorf("campaigns: cancel pending of contact %d: %w", contactID, err)
	}
	return tag.RowsAffected(), nil
}
