package whatsapp

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/privacy"
)

// eraseStatements delete every row of whatsmeow's tables that is about one person, given
// $1, a regular expression matching all the ways whatsmeow writes their ids (idPattern).
//
// Where whatsmeow keeps people (store/sqlstore/upgrades/00-latest-schema.sql):
//   - whatsmeow_contacts: their_jid, with push name, address-book names, business name;
//   - whatsmeow_chat_settings: chat_jid (muted, pinned, archived);
//   - whatsmeow_message_secrets: chat_jid and sender_jid of messages that carried a secret;
//   - whatsmeow_privacy_tokens: their_jid;
//   - whatsmeow_sessions, whatsmeow_identity_keys: their_id, a Signal address
//     "<user>[_<agent>]:<device>";
//   - whatsmeow_sender_keys: sender_id, a Signal address (group messages);
//   - whatsmeow_lid_map: the pair of the person's LID and phone number.
//
// Not about people, or not attributable: whatsmeow_device and whatsmeow_pre_keys (our own
// accounts), whatsmeow_app_state_* (keys, versions and MACs, no clear text),
// whatsmeow_version. whatsmeow_event_buffer keeps decrypted messages only when
// Client.EnableDecryptedEventBuffer is on, which Connect never sets.
//
// The regular expressions cannot use an index; these tables hold a few rows per contact
// of the accounts, and erasure is rare.
var eraseStatements = []string{
	`DELETE FROM whatsmeow_contacts WHERE their_jid ~ $1`,
	`DELETE FROM whatsmeow_chat_settings WHERE chat_jid ~ $1`,
	`DELETE FROM whatsmeow_message_secrets WHERE chat_jid ~ $1 OR sender_jid ~ $1`,
	`DELETE FROM whatsmeow_privacy_tokens WHERE their_jid ~ $1`,
	`DELETE FROM whatsmeow_sessions WHERE their_id ~ $1`,
	`DELETE FROM whatsmeow_identity_keys WHERE their_id ~ $1`,
	`DELETE FROM whatsmeow_sender_keys WHERE sender_id ~ $1`,
	`DELETE FROM whatsmeow_lid_map WHERE pn ~ $1 OR lid ~ $1`,
}

// digitsOnly matches a JID user part that is a phone number or a LID.
var digitsOnly = regexp.MustCompile(`^[0-9]+$`)

// ErasePhone deletes everything whatsmeow's tables hold about the person with this E.164
// number, for every account: their contact entry (push name and names), chat settings,
// message secrets, privacy token, Signal sessions and keys, and their LID mapping, under
// the number and under their LID. It also drops the number from the IsOnWhatsApp cache.
// It is idempotent, and part of erasing a contact (DESIGN §3, invariant 9).
//
// whatsmeow also caches some of this in memory (LID map, contact names) in each process
// that has the account connected, until that process restarts; nothing is written back
// from those caches, but new data arrives if the person writes to an account again.
func (c *Connector) ErasePhone(ctx context.Context, e164 string) error {
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("whatsapp: erase: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if err := c.eraseIn(ctx, tx, e164); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("whatsapp: erase: %w", err)
	}
	return nil
}

// eraseIn is ErasePhone inside a caller's transaction.
func (c *Connector) eraseIn(ctx context.Context, tx pgx.Tx, e164 string) error {
	digits, err := phoneDigits(e164)
	if err != nil {
		return fmt.Errorf("whatsapp: erase: %w", err)
	}
	ids, err := personIDs(ctx, tx, digits)
	if err != nil {
		return err
	}
	pattern := idPattern(ids)
	for _, stmt := range eraseStatements {
		if _, err := tx.Exec(ctx, stmt, pattern); err != nil {
			return fmt.Errorf("whatsapp: erase: %s: %w", strings.Fields(stmt)[2], err)
		}
	}
	c.onWA.forget(digits)
	return nil
}

// personIDs returns the user parts whatsmeow may know a person by: their number and their
// LIDs.
func personIDs(ctx context.Context, tx pgx.Tx, digits string) ([]string, error) {
	ids := []string{digits}
	rows, err := tx.Query(ctx, `SELECT lid FROM whatsmeow_lid_map WHERE pn = $1`, digits)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: erase: find LIDs: %w", err)
	}
	lids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("whatsapp: erase: find LIDs: %w", err)
	}
	for _, lid := range lids {
		if digitsOnly.MatchString(lid) {
			ids = append(ids, lid)
		}
	}
	return ids, nil
}

// PrivacyHolder exports and erases what whatsmeow's tables keep about a person, inside
// the erasure's transaction (they live in the same database).
func (c *Connector) PrivacyHolder() privacy.Holder { return waHolder{c} }

type waHolder struct{ c *Connector }

func (waHolder) Name() string { return "whatsapp" }

// waContact is what whatsmeow learnt of a person through one of our accounts.
type waContact struct {
	FirstName    string `json:"first_name"`
	FullName     string `json:"full_name"`
	PushName     string `json:"push_name"`
	BusinessName string `json:"business_name"`
}

func (h waHolder) Export(ctx context.Context, tx pgx.Tx, subj privacy.Subject) (any, error) {
	digits, err := phoneDigits(subj.Phone)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: export: %w", err)
	}
	ids, err := personIDs(ctx, tx, digits)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `
		SELECT coalesce(first_name, ''), coalesce(full_name, ''), coalesce(push_name, ''), coalesce(business_name, '')
		FROM whatsmeow_contacts WHERE their_jid ~ $1`, idPattern(ids))
	if err != nil {
		return nil, fmt.Errorf("whatsapp: export: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[waContact])
	if err != nil {
		return nil, fmt.Errorf("whatsapp: export: %w", err)
	}
	return map[string]any{"contacts": list}, nil
}

func (h waHolder) Erase(ctx context.Context, tx pgx.Tx, subj privacy.Subject) error {
	return h.c.eraseIn(ctx, tx, subj.Phone)
}

// idPattern matches every way whatsmeow writes an id of the user parts ids (all digits):
// JIDs "<user>@<server>", device JIDs "<user>:<device>@<server>" and "<user>.<agent>:<device>@<server>",
// and Signal addresses "<user>:<device>" and "<user>_<agent>:<device>". The user part must
// match whole, so 1555000111 does not match 15550001112.
func idPattern(ids []string) string {
	return `^(?:` + strings.Join(ids, "|") + `)(?:[._:][0-9]+)*(?:@.*)?$`
}
