package whatsapp

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.mau.fi/whatsmeow/types"

	"github.com/crierhq/crier/internal/testdb"
)

func TestNewCreatesTheSessionStoreIdempotently(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()

	// Twice in a row, and twice at once, as processes starting together would.
	for range 2 {
		c, err := New(ctx, pool, Options{})
		require.NoError(t, err)
		require.NoError(t, c.Close())
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			c, err := New(ctx, pool, Options{})
			if err == nil {
				err = c.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])

	for _, table := range []string{
		"whatsmeow_version", "whatsmeow_device", "whatsmeow_identity_keys", "whatsmeow_pre_keys",
		"whatsmeow_sessions", "whatsmeow_sender_keys", "whatsmeow_app_state_sync_keys",
		"whatsmeow_app_state_version", "whatsmeow_app_state_mutation_macs", "whatsmeow_contacts",
		"whatsmeow_chat_settings", "whatsmeow_message_secrets", "whatsmeow_privacy_tokens",
		"whatsmeow_lid_map", "whatsmeow_event_buffer", "crier_whatsapp_devices",
	} {
		var exists bool
		require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists))
		require.True(t, exists, table)
	}
	var versions int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM whatsmeow_version").Scan(&versions))
	require.Equal(t, 1, versions)
}

// TestNewNeedsTheMigratedDeviceMap: the migrations own crier_whatsapp_devices; New
// creates only whatsmeow's tables, and says so on a database that lacks the map.
func TestNewNeedsTheMigratedDeviceMap(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, "DROP TABLE crier_whatsapp_devices")
	require.NoError(t, err)
	_, err = New(ctx, pool, Options{})
	require.ErrorContains(t, err, "crier_whatsapp_devices is missing")
	require.ErrorContains(t, err, "crier migrate")
	var exists bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass('crier_whatsapp_devices') IS NOT NULL").Scan(&exists))
	require.False(t, exists, "New does not create it")
}

func TestDeviceMap(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()

	_, err := deviceGet(ctx, b.pool, 1)
	require.ErrorIs(t, err, ErrNotPaired)

	first := types.JID{User: "15550001111", Device: 12, Server: types.DefaultUserServer}
	require.NoError(t, devicePut(ctx, b.pool, 1, first, b.clock.Now()))
	got, err := deviceGet(ctx, b.pool, 1)
	require.NoError(t, err)
	require.Equal(t, first, got)

	// Pairing again replaces the device.
	second := types.JID{User: "15550001111", Device: 13, Server: types.DefaultUserServer}
	require.NoError(t, devicePut(ctx, b.pool, 1, second, b.clock.Now()))
	got, err = deviceGet(ctx, b.pool, 1)
	require.NoError(t, err)
	require.Equal(t, second, got)

	// A device belongs to one account.
	require.Error(t, devicePut(ctx, b.pool, 2, second, b.clock.Now()))

	require.NoError(t, deviceDelete(ctx, b.pool, 1))
	_, err = deviceGet(ctx, b.pool, 1)
	require.ErrorIs(t, err, ErrNotPaired)
}

func TestDeviceMapRowWithoutDeviceReadsAsNotPaired(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ctx := context.Background()

	// whatsmeow deletes the device when the phone unlinks it; the map row stays behind.
	require.NoError(t, devicePut(ctx, b.pool, 1, types.JID{User: "15550001111", Device: 12, Server: types.DefaultUserServer}, b.clock.Now()))
	_, err := b.conn.device(ctx, 1)
	require.ErrorIs(t, err, ErrNotPaired)
	require.ErrorContains(t, err, "linked device is gone")

	jid := storeFakeDevice(t, b, 2, "15550002222")
	dev, err := b.conn.device(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, jid, dev.GetJID())

	require.NoError(t, b.conn.Unpair(ctx, 2))
	_, err = b.conn.device(ctx, 2)
	require.ErrorIs(t, err, ErrNotPaired)
	var devices int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*) FROM whatsmeow_device").Scan(&devices))
	require.Zero(t, devices)
	require.NoError(t, b.conn.Unpair(ctx, 2), "unpairing twice")
}
