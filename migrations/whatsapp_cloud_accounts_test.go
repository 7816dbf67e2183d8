package migrations_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWhatsAppCloudAccountsMigration takes 00015 down and up again: below it the channel
// is refused, above it a cloud account needs its sealed secrets, and going down refuses
// while a cloud account exists.
func TestWhatsAppCloudAccountsMigration(t *testing.T) {
	ctx := context.Background()
	db, p := migrated(t)

	_, err := db.ExecContext(ctx, `INSERT INTO accounts (name, channel, status, rate_per_minute) VALUES ('wa', 'whatsapp', 'pending_pair', 20)`)
	require.NoError(t, err)
	_, err = p.DownTo(ctx, 14)
	require.NoError(t, err, "00015 goes down cleanly without cloud accounts")
	_, err = db.ExecContext(ctx, `INSERT INTO accounts (name, channel, status, rate_per_minute) VALUES ('c', 'whatsapp_cloud', 'disconnected', 1)`)
	require.ErrorContains(t, err, "accounts_channel_check")

	_, err = p.Up(ctx)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `
		INSERT INTO accounts (name, channel, status, rate_per_minute, phone_number_id, waba_id, graph_url, api_version, access_token_sealed, app_secret_sealed)
		VALUES ('c', 'whatsapp_cloud', 'disconnected', 4800, '1', '2', 'https://graph.facebook.com', 'v21.0', 'plain', 'v1:x')`)
	require.ErrorContains(t, err, "accounts_cloud_check", "a plaintext token is refused")
	_, err = db.ExecContext(ctx, `
		INSERT INTO accounts (name, channel, status, rate_per_minute, phone_number_id, waba_id, graph_url, api_version, access_token_sealed, app_secret_sealed)
		VALUES ('c', 'whatsapp_cloud', 'disconnected', 4800, '1', '2', 'https://graph.facebook.com', 'v21.0', 'v1:x', 'v1:y')`)
	require.NoError(t, err)

	_, err = p.DownTo(ctx, 14)
	require.ErrorContains(t, err, "whatsapp_cloud accounts exist")
	var n int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM accounts`).Scan(&n))
	require.Equal(t, 2, n, "nothing lost")
}
