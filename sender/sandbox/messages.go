package sandbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/privacy"
	"github.com/crierhq/crier/sender"
)

// Messages lists what the network delivered, oldest first, and the cursor of the next page.
func (n *Network) Messages(ctx context.Context, f sender.SentFilter) ([]sender.SentMessage, int64, error) {
	rows, err := n.pool.Query(ctx, `
		SELECT seq, id, account_id, coalesce(to_phone, ''), coalesce(text, ''), sent_at FROM sandbox_messages
		WHERE seq > $1 AND ($2 = '' OR to_phone = $2) AND ($3 = 0 OR account_id = $3)
		ORDER BY seq LIMIT $4`, f.AfterSeq, f.To, f.AccountID, f.Limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("sandbox: messages: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[sender.SentMessage])
	if err != nil {
		return nil, 0, fmt.Errorf("sandbox: messages: %w", err)
	}
	var next int64
	if len(list) > f.Limit {
		list = list[:f.Limit]
		next = list[len(list)-1].Seq
	}
	return list, next, nil
}

// PrivacyHolder exports and erases what the simulated network delivered to a person.
func (n *Network) PrivacyHolder() privacy.Holder { return holder{} }

type holder struct{}

func (holder) Name() string { return "sandbox" }

type exported struct {
	ID        string    `json:"id"`
	AccountID int64     `json:"account_id"`
	Text      *string   `json:"text"`
	SentAt    time.Time `json:"sent_at"`
}

func (holder) Export(ctx context.Context, tx pgx.Tx, s privacy.Subject) (any, error) {
	rows, err := tx.Query(ctx, `SELECT id, account_id, text, sent_at FROM sandbox_messages WHERE to_phone = $1 ORDER BY seq`, s.Phone)
	if err != nil {
		return nil, fmt.Errorf("sandbox: export: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[exported])
	if err != nil {
		return nil, fmt.Errorf("sandbox: export: %w", err)
	}
	return map[string]any{"messages": list}, nil
}

func (holder) Erase(ctx context.Context, tx pgx.Tx, s privacy.Subject) error {
	if _, err := tx.Exec(ctx, `UPDATE sandbox_messages SET to_phone = NULL, text = NULL WHERE to_phone = $1`, s.Phone); err != nil {
		return fmt.Errorf("sandbox: erase: %w", err)
	}
	return nil
}

// Purger removes the text of delivered messages older than a cutoff.
func (n *Network) Purger() privacy.Purger { return purger{n} }

type purger struct{ n *Network }

func (p purger) Purge(ctx context.Context, before time.Time) (int64, error) {
	tag, err := p.n.pool.Exec(ctx, `UPDATE sandbox_messages SET text = NULL WHERE sent_at < $1 AND text IS NOT NULL`, before)
	if err != nil {
		return 0, fmt.Errorf("sandbox: purge: %w", err)
	}
	return tag.RowsAffected(), nil
}
