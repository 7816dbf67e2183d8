package campaigns

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/privacy"
)

// PrivacyHolder exports and erases what the campaigns keep about a contact: its
// deliveries, whose rendered text is the message as sent (personal data), and their
// events. Erasure keeps the deliveries for the campaign's counts, without the contact
// id, the text, the error (which may quote it) or the events' detail; the ones not sent
// yet are cancelled.
func (s *Service) PrivacyHolder() privacy.Holder { return deliveryHolder{} }

type deliveryHolder struct{}

func (deliveryHolder) Name() string { return "deliveries" }

type deliveryEventExport struct {
	Kind       string         `json:"kind"`
	Detail     map[string]any `json:"detail"`
	OccurredAt time.Time      `json:"occurred_at"`
}

type deliveryExport struct {
	delivery.Delivery
	Events []deliveryEventExport `json:"events"`
}

func (deliveryHolder) Export(ctx context.Context, tx pgx.Tx, subj privacy.Subject) (any, error) {
	rows, err := tx.Query(ctx, `
		SELECT `+delivery.Columns+`,
		       coalesce((SELECT jsonb_agg(jsonb_build_object('kind', e.kind, 'detail', e.detail, 'occurred_at', e.occurred_at) ORDER BY e.id)
		                 FROM delivery_events e WHERE e.delivery_id = d.id), '[]')
		FROM deliveries d WHERE d.contact_id = $1 ORDER BY d.id`, subj.ContactID)
	if err != nil {
		return nil, fmt.Errorf("campaigns: export contact %d: %w", subj.ContactID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (deliveryExport, error) {
		var d deliveryExport
		err := r.Scan(d.Fields(&d.Events)...)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("campaigns: export contact %d: %w", subj.ContactID, err)
	}
	if out == nil {
		out = []deliveryExport{}
	}
	return out, nil
}

func (deliveryHolder) Erase(ctx context.Context, tx pgx.Tx, subj privacy.Subject) error {
	// The same as deleting the contact does (migrations/00006_campaigns.sql's trigger), so
	// that an erasure is complete even before the contacts holder deletes the row.
	_, err := tx.Exec(ctx, `
		WITH events AS (
			UPDATE delivery_events e SET detail = '{}'
			FROM deliveries d WHERE e.delivery_id = d.id AND d.contact_id = $1 AND e.detail <> '{}'
		)
		UPDATE deliveries SET contact_id = NULL, rendered = NULL, error = NULL,
			status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
			skip_reason = CASE WHEN status = 'queued' THEN 'contact_erased' ELSE skip_reason END,
			updated_at = now()
		WHERE contact_id = $1`, subj.ContactID)
	if err != nil {
		return fmt.Errorf("campaigns: erase contact %d: %w", subj.ContactID, err)
	}
	return nil
}

// RenderedPurger removes the text of messages sent before a cutoff (deliveries.rendered
// and error, and their events' detail), for the retention policy.
func (s *Service) RenderedPurger() privacy.Purger { return renderedPurger{s} }

type renderedPurger struct{ s *Service }

func (p renderedPurger) Purge(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := p.s.pool.QueryRow(ctx, `
		WITH events AS (
			UPDATE delivery_events SET detail = '{}' WHERE occurred_at < $1 AND detail <> '{}'
		), cleared AS (
			UPDATE deliveries SET rendered = NULL, error = NULL
			WHERE coalesce(sent_at, failed_at, updated_at) < $1 AND (rendered IS NOT NULL OR error IS NOT NULL)
			  AND status NOT IN ('queued', 'sending')
			RETURNING 1
		)
		SELECT count(*) FROM cleared`, before).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("campaigns: purge message text: %w", err)
	}
	return n, nil
}
