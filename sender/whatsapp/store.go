package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
)

// The account-to-device map, crier_whatsapp_devices, is created by Crier's migrations
// (migrations/00005_accounts.sql), its only owner: account_id primary key, jid (the
// account's own device JID, the business's number, never a customer's) unique, paired_at
// and updated_at. There is no foreign key to whatsmeow_device: migrations run before
// whatsmeow's own upgrade creates that table, and a row whose device whatsmeow deleted
// (logged out) simply reads as "not paired" (see Connector.device).
const devicesTable = "crier_whatsapp_devices"

// schemaLockKey serialises schema set-up across processes that start at once (compose
// starts api, worker and scheduler together): whatsmeow's upgrader takes no lock itself,
// and two of them would race to create the same tables.
const schemaLockKey = "crier_whatsapp_schema"

// schemaUpgrade checks that the migrations created Crier's device map, then creates or
// upgrades whatsmeow's tables under a transaction-level advisory lock, which Postgres
// releases however the transaction ends.
func schemaUpgrade(ctx context.Context, pool *pgxpool.Pool, container *sqlstore.Container) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", schemaLockKey); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	var migrated bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", devicesTable).Scan(&migrated); err != nil {
		return fmt.Errorf("%s: %w", devicesTable, err)
	}
	if !migrated {
		return fmt.Errorf("%s is missing: the database is not migrated (run `crier migrate`)", devicesTable)
	}
	// whatsmeow's upgrader runs on its own connections (database/sql over the same pool);
	// the lock held by tx keeps other processes out meanwhile.
	if err := container.Upgrade(ctx); err != nil {
		return fmt.Errorf("whatsmeow tables: %w", err)
	}
	return tx.Commit(ctx)
}

// deviceGet returns the device JID of the account, or ErrNotPaired.
func deviceGet(ctx context.Context, pool *pgxpool.Pool, accountID int64) (types.JID, error) {
	var raw string
	err := pool.QueryRow(ctx, "SELECT jid FROM crier_whatsapp_devices WHERE account_id = $1", accountID).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return types.JID{}, ErrNotPaired
	} else if err != nil {
		return types.JID{}, fmt.Errorf("whatsapp: device of account %d: %w", accountID, err)
	}
	jid, err := types.ParseJID(raw)
	if err != nil {
		return types.JID{}, fmt.Errorf("whatsapp: device of account %d: bad jid: %w", accountID, err)
	}
	return jid, nil
}

// devicePut records the account's device after a successful pairing, replacing any
// earlier one.
func devicePut(ctx context.Context, pool *pgxpool.Pool, accountID int64, jid types.JID, now time.Time) error {
	_, err := pool.Exec(ctx, `
		INSERT INTO crier_whatsapp_devices (account_id, jid, paired_at, updated_at)
		VALUES ($1, $2, $3, $3)
		ON CONFLICT (account_id) DO UPDATE SET jid = excluded.jid, paired_at = excluded.paired_at, updated_at = excluded.updated_at`,
		accountID, jid.String(), now)
	if err != nil {
		return fmt.Errorf("whatsapp: record device of account %d: %w", accountID, err)
	}
	return nil
}

// deviceDelete forgets the account's device.
func deviceDelete(ctx context.Context, pool *pgxpool.Pool, accountID int64) error {
	if _, err := pool.Exec(ctx, "DELETE FROM crier_whatsapp_devices WHERE account_id = $1", accountID); err != nil {
		return fmt.Errorf("whatsapp: forget device of account %d: %w", accountID, err)
	}
	return nil
}
