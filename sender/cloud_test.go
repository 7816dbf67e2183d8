package sender_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/apperr"
	"github.com/crierhq/crier/internal/secretbox"
	"github.com/crierhq/crier/internal/testdb"
	"github.com/crierhq/crier/sender"
)

const (
	testAccessToken = "EAAGtestaccesstokenXYZ123"
	testAppSecret   = "0123456789abcdefappsecret"
)

type cloudBundle struct {
	pool  *pgxpool.Pool
	store *sender.Accounts
}

func setupCloud(t *testing.T) *cloudBundle {
	t.Helper()
	pool := testdb.New(t)
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	require.NoError(t, err)
	return &cloudBundle{pool: pool, store: sender.NewAccountsWithSecrets(pool, box)}
}

func cloudInput(name string) sender.AccountInput {
	return sender.AccountInput{Name: name, Channel: sender.WhatsAppCloud, Cloud: &sender.CloudConfig{
		PhoneNumberID: "106540352242922", WABAID: "102290129340398", VerifyToken: "hook-token",
		AccessToken: testAccessToken, AppSecret: testAppSecret,
	}}
}

func TestCloudAccountCreateGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCloud(t)

	a, err := b.store.Create(ctx, cloudInput("Cloud"))
	require.NoError(t, err)
	require.Equal(t, sender.WhatsAppCloud, a.Channel)
	require.Equal(t, sender.StatusDisconnected, a.Status, "nothing to pair")
	require.Equal(t, 4_800, a.RatePerMinute, "Meta's 80 a second")
	require.Zero(t, a.DailyCap)
	require.False(t, a.Warmup)
	require.False(t, a.Pacing)
	require.Nil(t, a.Sandbox)
	want := &sender.CloudConfig{PhoneNumberID: "106540352242922", WABAID: "102290129340398",
		GraphURL: "https://graph.facebook.com", APIVersion: "v21.0", VerifyToken: "hook-token",
		AccessTokenSet: true, AppSecretSet: true}
	require.Equal(t, want, a.Cloud, "defaults applied, secrets masked")

	got, err := b.store.Get(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, want, got.Cloud)
	list, _, err := b.store.List(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, want, list[0].Cloud)

	// The JSON an API would show: the config, never a secret.
	out, err := json.Marshal(got.Cloud)
	require.NoError(t, err)
	require.JSONEq(t, `{"phone_number_id":"106540352242922","waba_id":"102290129340398","graph_url":"https://graph.facebook.com",
		"api_version":"v21.0","verify_token":"hook-token","access_token_set":true,"app_secret_set":true}`, string(out))
	in := cloudInput("x").Cloud
	for _, s := range []string{mustJSON(t, in), in.String(), fmt.Sprintf("%v %+v", *in, *in), fmt.Sprintf("%+v", got)} {
		require.NotContains(t, s, testAccessToken)
		require.NotContains(t, s, testAppSecret)
	}

	// Sealed in the database.
	var access, app string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT access_token_sealed, app_secret_sealed FROM accounts WHERE id = $1`, a.ID).Scan(&access, &app))
	require.True(t, strings.HasPrefix(access, "v1:"))
	require.True(t, strings.HasPrefix(app, "v1:"))
	var leaks int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM accounts WHERE strpos(accounts::text, $1) > 0 OR strpos(accounts::text, $2) > 0`,
		testAccessToken, testAppSecret).Scan(&leaks))
	require.Zero(t, leaks, "no column holds a plaintext secret")

	token, secret, err := b.store.CloudSecrets(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, testAccessToken, token)
	require.Equal(t, testAppSecret, secret)

	// Another key opens nothing, and says nothing of the secret.
	otherBox, err := secretbox.New(bytes.Repeat([]byte{8}, secretbox.KeySize))
	require.NoError(t, err)
	_, _, err = sender.NewAccountsWithSecrets(b.pool, otherBox).CloudSecrets(ctx, a.ID)
	require.ErrorIs(t, err, secretbox.ErrOpen)

	// One live account per number; a deleted one frees it.
	_, err = b.store.Create(ctx, cloudInput("Cloud 2"))
	requireFields(t, err, apperr.Conflict, "cloud.phone_number_id")
	require.NoError(t, b.store.Delete(ctx, a.ID))
	_, _, err = b.store.CloudSecrets(ctx, a.ID)
	requireCode(t, err, apperr.NotFound)
	_, err = b.store.Create(ctx, cloudInput("Cloud 2"))
	require.NoError(t, err)
}

func TestCloudAccountOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCloud(t)
	in := cloudInput("Local")
	rate, warmup := 60_000, true
	in.RatePerMinute, in.Warmup = &rate, &warmup
	in.Cloud.GraphURL, in.Cloud.APIVersion, in.Cloud.VerifyToken = "http://127.0.0.1:8089/", "v22.0", ""
	in.Cloud.PhoneNumberID = " 42 "
	a, err := b.store.Create(ctx, in)
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:8089", a.Cloud.GraphURL)
	require.Equal(t, "v22.0", a.Cloud.APIVersion)
	require.Equal(t, "42", a.Cloud.PhoneNumberID)
	require.Equal(t, 60_000, a.RatePerMinute)
	require.False(t, a.WarmupStart.IsZero(), "the warm-up starts at once: nothing to pair")
}

func TestCloudAccountValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCloud(t)
	for name, tc := range map[string]struct {
		edit   func(*sender.AccountInput)
		fields []string
	}{
		"no config":           {func(in *sender.AccountInput) { in.Cloud = nil }, []string{"cloud"}},
		"phone id not digits": {func(in *sender.AccountInput) { in.Cloud.PhoneNumberID = "+6591234567" }, []string{"cloud.phone_number_id"}},
		"phone id missing":    {func(in *sender.AccountInput) { in.Cloud.PhoneNumberID = "" }, []string{"cloud.phone_number_id"}},
		"waba id not digits":  {func(in *sender.AccountInput) { in.Cloud.WABAID = "waba" }, []string{"cloud.waba_id"}},
		"graph url http":      {func(in *sender.AccountInput) { in.Cloud.GraphURL = "http://graph.facebook.com" }, []string{"cloud.graph_url"}},
		"graph url scheme":    {func(in *sender.AccountInput) { in.Cloud.GraphURL = "ftp://graph.facebook.com" }, []string{"cloud.graph_url"}},
		"graph url no host":   {func(in *sender.AccountInput) { in.Cloud.GraphURL = "graph.facebook.com" }, []string{"cloud.graph_url"}},
		"graph url userinfo":  {func(in *sender.AccountInput) { in.Cloud.GraphURL = "https://u:p@graph.facebook.com" }, []string{"cloud.graph_url"}},
		"api version":         {func(in *sender.AccountInput) { in.Cloud.APIVersion = "21" }, []string{"cloud.api_version"}},
		"verify token space":  {func(in *sender.AccountInput) { in.Cloud.VerifyToken = "a b" }, []string{"cloud.verify_token"}},
		"no access token":     {func(in *sender.AccountInput) { in.Cloud.AccessToken = " " }, []string{"cloud.access_token"}},
		"no app secret":       {func(in *sender.AccountInput) { in.Cloud.AppSecret = "" }, []string{"cloud.app_secret"}},
		"rate too high":       {func(in *sender.AccountInput) { r := 60_001; in.RatePerMinute = &r }, []string{"rate_per_minute"}},
		"sandbox config":      {func(in *sender.AccountInput) { in.Sandbox = &sender.SandboxConfig{} }, []string{"sandbox"}},
		"several": {func(in *sender.AccountInput) { in.Cloud.WABAID, in.Cloud.AccessToken, in.Cloud.AppSecret = "", "", "" },
			[]string{"cloud.waba_id", "cloud.access_token", "cloud.app_secret"}},
	} {
		in := cloudInput("Cloud")
		tc.edit(&in)
		_, err := b.store.Create(ctx, in)
		requireFields(t, err, apperr.Invalid, tc.fields...)
		require.NotContains(t, err.Error(), testAccessToken, name)
		require.NotContains(t, err.Error(), testAppSecret, name)
	}
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&n))
	require.Zero(t, n)
}

func TestCloudAccountNeedsSecretKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	plain := sender.NewAccounts(pool)

	_, err := plain.Create(ctx, cloudInput("Cloud"))
	require.ErrorIs(t, err, sender.ErrNoSecretKey)
	requireCode(t, err, apperr.Unavailable)
	require.Contains(t, err.Error(), "CRIER_SECRET_KEY")

	// Validation still comes first, and other channels need no key.
	in := cloudInput("Cloud")
	in.Cloud.WABAID = ""
	_, err = plain.Create(ctx, in)
	requireFields(t, err, apperr.Invalid, "cloud.waba_id")
	sb, err := plain.Create(ctx, sender.AccountInput{Name: "Sandbox", Channel: sender.Sandbox})
	require.NoError(t, err)
	_, _, err = plain.CloudSecrets(ctx, sb.ID)
	require.ErrorIs(t, err, sender.ErrNoSecretKey)
}

func TestOtherChannelsWithoutCloud(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCloud(t)

	wa, err := b.store.Create(ctx, sender.AccountInput{Name: "WA", Channel: sender.WhatsApp})
	require.NoError(t, err)
	require.Equal(t, sender.StatusPendingPair, wa.Status)
	require.Equal(t, 20, wa.RatePerMinute)
	require.Equal(t, 1000, wa.DailyCap)
	require.True(t, wa.Warmup)
	require.True(t, wa.Pacing)
	require.Nil(t, wa.Cloud)
	sb, err := b.store.Create(ctx, sender.AccountInput{Name: "SB", Channel: sender.Sandbox})
	require.NoError(t, err)
	require.Equal(t, 600, sb.RatePerMinute)
	require.NotNil(t, sb.Sandbox)
	require.Nil(t, sb.Cloud)

	_, _, err = b.store.CloudSecrets(ctx, sb.ID)
	requireCode(t, err, apperr.Conflict)
	_, _, err = b.store.CloudSecrets(ctx, 999_999)
	requireCode(t, err, apperr.NotFound)

	in := cloudInput("WA 2")
	in.Channel = sender.WhatsApp
	_, err = b.store.Create(ctx, in)
	requireFields(t, err, apperr.Invalid, "cloud")
	_, err = b.store.Create(ctx, sender.AccountInput{Name: "X", Channel: "telegram"})
	requireFields(t, err, apperr.Invalid, "channel")
	require.ErrorContains(t, err, `"whatsapp_cloud"`)

	// The table holds a cloud account to its configuration, and others to none.
	_, err = b.pool.Exec(ctx, `INSERT INTO accounts (name, channel, status, rate_per_minute) VALUES ('bare', 'whatsapp_cloud', 'disconnected', 1)`)
	require.ErrorContains(t, err, "accounts_cloud_check")
	_, err = b.pool.Exec(ctx, `INSERT INTO accounts (name, channel, status, rate_per_minute, phone_number_id) VALUES ('odd', 'whatsapp', 'pending_pair', 1, '1')`)
	require.ErrorContains(t, err, "accounts_cloud_check")
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func requireCode(t *testing.T, err error, code apperr.Code) {
	t.Helper()
	var ae *apperr.Error
	require.True(t, errors.As(err, &ae), "want an apperr.Error, got %v", err)
	require.Equal(t, code, ae.Code, err.Error())
}

func requireFields(t *testing.T, err error, code apperr.Code, fields ...string) {
	t.Helper()
	requireCode(t, err, code)
	var ae *apperr.Error
	require.True(t, errors.As(err, &ae))
	var got []string
	for _, f := range ae.Fields {
		got = append(got, f.Field)
	}
	require.ElementsMatch(t, fields, got, err.Error())
}
