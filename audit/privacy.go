package audit

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/privacy"
)

// PrivacyHolder exports the audit entries about a contact. It erases nothing: entries name
// actors, actions and ids, never personal data, and they are the record that the
// erasure happened.
func (l *Log) PrivacyHolder() privacy.Holder { return auditHolder{} }

type auditHolder struct{}

func (auditHolder) Name() string { return "audit" }

type entryExport struct {
	At       string         `json:"at"`
	Actor    string         `json:"actor"`
	Action   string         `json:"action"`
	Status   int            `json:"status"`
	Detail   map[string]any `json:"detail"`
	Request  string         `json:"request_id"`
	KeyID    string         `json:"actor_key_id"`
	TargetID string         `json:"target_id"`
}

func (auditHolder) Export(ctx context.Context, tx pgx.Tx, subj privacy.Subject) (any, error) {
	rows, err := tx.Query(ctx, `
		SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor, action, status, detail,
		       request_id, coalesce(actor_key_id, ''), target_id
		FROM audit_log WHERE target_type = 'contact' AND target_id = $1 ORDER BY id`, strconv.FormatInt(subj.ContactID, 10))
	if err != nil {
		return nil, fmt.Errorf("audit: export: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[entryExport])
}

func (auditHolder) Erase(context.Context, pgx.Tx, privacy.Subject) error { return nil }
