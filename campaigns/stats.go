package campaigns

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/apperr"
)

// Counts are a set of deliveries counted by what happened to them. The statuses move
// forward (sent → delivered → read), so the message counts are cumulative, from the
// timestamps each step leaves:
//
//   - Sent: the network accepted the message (sent_at is set), whatever came after,
//     a failed receipt included; Delivered ⊆ Sent, Read ⊆ Delivered.
//   - Delivered: it reached the phone (delivered_at or read_at is set: a read receipt
//     implies delivery even when the delivered one was lost).
//   - Read: read_at is set.
//   - Failed: the delivery is failed (at send time, or by a failed receipt).
//   - Queued and Sending: not sent yet; Skipped, Cancelled and Expired: never will be.
//     Total = Queued + Sending + Skipped + Cancelled + Expired + the deliveries that
//     reached sent, delivered, read or failed.
//   - OptedOut: the recipient opted out after this message, or opted out before it was
//     sent (cancelled or skipped as opted_out). Replied: they answered it.
type Counts struct {
	Total     int64 `json:"total"`
	Queued    int64 `json:"queued"`
	Sending   int64 `json:"sending"`
	Sent      int64 `json:"sent"`
	Delivered int64 `json:"delivered"`
	Read      int64 `json:"read"`
	Failed    int64 `json:"failed"`
	Skipped   int64 `json:"skipped"`
	Cancelled int64 `json:"cancelled"`
	Expired   int64 `json:"expired"`
	OptedOut  int64 `json:"opted_out"`
	Replied   int64 `json:"replied"`
}

// RunStats are one run's counts.
type RunStats struct {
	RunID  int64     `json:"run_id"`
	RunAt  time.Time `json:"run_at"`
	Status string    `json:"status"`
	Counts
}

// Stats are a campaign's delivery counts overall, per run, by variant and by account
// ("none" for deliveries not sent from any account yet), and the skipped and cancelled
// ones by reason.
type Stats struct {
	CampaignID int64             `json:"campaign_id"`
	Status     Status            `json:"status"`
	Overall    Counts            `json:"overall"`
	Runs       []RunStats        `json:"runs"`
	ByVariant  map[string]Counts `json:"by_variant"`
	ByAccount  map[string]Counts `json:"by_account"`
	SkipReason map[string]int64  `json:"skip_reasons"`
}

// countsSQL sums delivery_counts into Counts, in field order.
const countsSQL = `coalesce(sum(total), 0), coalesce(sum(queued), 0), coalesce(sum(sending), 0),
	coalesce(sum(sent), 0), coalesce(sum(delivered), 0), coalesce(sum(read), 0), coalesce(sum(failed), 0),
	coalesce(sum(skipped), 0), coalesce(sum(cancelled), 0), coalesce(sum(expired), 0),
	coalesce(sum(opted_out), 0), coalesce(sum(replied), 0)`

func (c *Counts) dest() []any {
	return []any{&c.Total, &c.Queued, &c.Sending, &c.Sent, &c.Delivered, &c.Read, &c.Failed, &c.Skipped,
		&c.Cancelled, &c.Expired, &c.OptedOut, &c.Replied}
}

// Stats counts a campaign's deliveries from its counters (delivery_counts, kept by the
// deliveries' triggers in the transactions that change them: migration 00021): one
// indexed read of a few rows a group, whatever the campaign's size. Errors: NotFound.
func (s *Service) Stats(ctx context.Context, id int64) (Stats, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{CampaignID: id, Status: c.Status, Runs: []RunStats{}, ByVariant: map[string]Counts{},
		ByAccount: map[string]Counts{}, SkipReason: map[string]int64{}}
	runs, err := s.Runs(ctx, id)
	if err != nil {
		return Stats{}, err
	}
	byRun := map[int64]Counts{}
	// A group whose deliveries all moved on (the account "none" once every delivery has
	// one) sums to zero and is left out, as a scan would not find it.
	rows, err := s.pool.Query(ctx, `
		SELECT grouping(run_id, variant, account_id, skip_reason), run_id, variant, account_id, skip_reason, `+countsSQL+`
		FROM (SELECT run_id, variant, account_id, skip_reason, sum(total) AS total, sum(queued) AS queued,
				sum(sending) AS sending, sum(sent) AS sent, sum(delivered) AS delivered, sum(read) AS read,
				sum(failed) AS failed, sum(skipped) AS skipped, sum(cancelled) AS cancelled, sum(expired) AS expired,
				sum(opted_out) AS opted_out, sum(replied) AS replied
			FROM delivery_counts WHERE campaign_id = $1 GROUP BY 1, 2, 3, 4) g -- the groups first: fewer rows to sort
		GROUP BY GROUPING SETS ((), (run_id), (variant), (account_id), (skip_reason))
		HAVING grouping(run_id, variant, account_id, skip_reason) = 15 OR sum(total) <> 0`, id)
	if err != nil {
		return Stats{}, fmt.Errorf("campaigns: stats %d: %w", id, err)
	}
	for rows.Next() {
		var g int
		var runID, accountID *int64
		var variant *int
		var reason *string
		var n Counts
		if err := rows.Scan(append([]any{&g, &runID, &variant, &accountID, &reason}, n.dest()...)...); err != nil {
			rows.Close()
			return Stats{}, fmt.Errorf("campaigns: stats %d: %w", id, err)
		}
		// grouping() has a bit set for each column NOT grouped by: run_id 8, variant 4,
		// account_id 2, skip_reason 1.
		switch g {
		case 15:
			st.Overall = n
		case 7:
			byRun[*runID] = n
		case 11:
			st.ByVariant[keyOf(variant)] = n
		case 13:
			st.ByAccount[keyOf(accountID)] = n
		case 14:
			if reason != nil && n.Skipped+n.Cancelled > 0 {
				st.SkipReason[*reason] = n.Skipped + n.Cancelled
			}
		}
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("campaigns: stats %d: %w", id, err)
	}
	for _, r := range runs {
		st.Runs = append(st.Runs, RunStats{RunID: r.ID, RunAt: r.RunAt, Status: r.Status, Counts: byRun[r.ID]})
	}
	return st, nil
}

func keyOf[T int | int64](v *T) string {
	if v == nil {
		return "none"
	}
	return strconv.FormatInt(int64(*v), 10)
}

// DeliveryRow is a delivery with its recipient's phone, for the per-recipient list.
type DeliveryRow struct {
	delivery.Delivery
	Phone string `json:"phone"` // "" once the contact is deleted or erased
}

// DeliveryListParams filter and page a campaign's deliveries.
type DeliveryListParams struct {
	Status  delivery.Status // only deliveries in this status; "" for all
	RunID   int64           // only this run's; 0 for all
	AfterID int64           // keyset cursor
	Limit   int
	// PII shows phones and the rendered text; without it phones are masked and the text
	// is left out.
	PII bool
}

// Deliveries lists a campaign's deliveries in id order, and the cursor of the next page
// (0 at the end). Errors: NotFound; Invalid for an unknown status.
func (s *Service) Deliveries(ctx context.Context, campaignID int64, p DeliveryListParams) ([]DeliveryRow, int64, error) {
	switch p.Status {
	case "", delivery.StatusQueued, delivery.StatusSending, delivery.StatusSent, delivery.StatusDelivered, delivery.StatusRead,
		delivery.StatusFailed, delivery.StatusSkipped, delivery.StatusCancelled, delivery.StatusExpired:
	default:
		return nil, 0, apperr.Field("status", "must be one of queued, sending, sent, delivered, read, failed, skipped, cancelled, expired")
	}
	if _, err := s.Get(ctx, campaignID); err != nil {
		return nil, 0, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+delivery.Columns+`, coalesce(c.phone, '')
		FROM deliveries d LEFT JOIN contact_keys c ON c.id = d.contact_id
		WHERE d.run_id IN (SELECT id FROM campaign_runs WHERE campaign_id = $1 AND ($4 = 0 OR id = $4))
		  AND d.id > $2 AND ($3 = '' OR d.status = $3)
		ORDER BY d.id LIMIT $5`, campaignID, p.AfterID, string(p.Status), p.RunID, p.Limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("campaigns: deliveries of %d: %w", campaignID, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeliveryRow, error) {
		var d DeliveryRow
		err := r.Scan(d.Fields(&d.Phone)...)
		if !p.PII {
			d.Rendered, d.Error = "", ""
			if d.Phone != "" {
				d.Phone = contacts.MaskPhone(d.Phone)
			}
		}
		return d, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("campaigns: deliveries of %d: %w", campaignID, err)
	}
	var next int64
	if len(list) > p.Limit {
		list = list[:p.Limit]
		next = list[len(list)-1].ID
	}
	return list, next, nil
}
