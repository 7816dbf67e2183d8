package campaigns

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/sender"
)

// SendCampaign is what the send path needs to know about a campaign.
type SendCampaign struct {
	ID            int64
	Name          string
	Status        Status
	TemplateID    int64
	AccountIDs    []int64
	Rotation      sender.Rotation
	RatePerMinute int // 0: no cap over the accounts' own rates
}

// Stopped reports whether the campaign must send nothing now; Paused says whether it may
// resume.
func (c SendCampaign) Stopped() bool { return c.Status == StatusPaused || c.Status == StatusCancelled }

// Paused reports whether the campaign is paused (and may resume).
func (c SendCampaign) Paused() bool { return c.Status == StatusPaused }

// Cancelled reports whether the campaign was cancelled: its deliveries are not sent.
func (c SendCampaign) Cancelled() bool { return c.Status == StatusCancelled }

// SendCampaign returns the campaign's send settings. A campaign that does not exist is
// delivery.ErrDeliveryFinal (wrapped): its deliveries have nothing to send.
func (s *Service) SendCampaign(ctx context.Context, id int64) (SendCampaign, error) {
	var c SendCampaign
	var rate *int
	err := s.pool.QueryRow(ctx, `
		SELECT id, name, status, template_id, account_ids, rotation, rate_per_minute FROM campaigns WHERE id = $1`, id).
		Scan(&c.ID, &c.Name, &c.Status, &c.TemplateID, &c.AccountIDs, &c.Rotation, &rate)
	if errors.Is(err, pgx.ErrNoRows) {
		return SendCampaign{}, fmt.Errorf("campaigns: campaign %d: %w", id, delivery.ErrDeliveryFinal)
	}
	if err != nil {
		return SendCampaign{}, fmt.Errorf("campaigns: campaign %d: %w", id, err)
	}
	if rate != nil {
		c.RatePerMinute = *rate
	}
	return c, nil
}
