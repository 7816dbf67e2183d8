package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/auth"
	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/httpapi"
	"github.com/crierhq/crier/internal/phonehash"
)

// importBundle is a server of its own over the bundle's database, whose contacts service
// has the given import limits and queue (nil: imports run in the server's process), and
// whose log is kept.
type importBundle struct {
	*testBundle
	contacts *contacts.Service
	logs     *syncBuffer
	observer *pgxpool.Pool // a pool of the test's own, to watch the server's
}

func setupImports(t *testing.T, lim contacts.ImportLimits, queue contacts.ImportQueue) *importBundle {
	t.Helper()
	b := setup(t)
	hasher, err := phonehash.New(bytes.Repeat([]byte{42}, 32))
	require.NoError(t, err)
	svc := contacts.New(b.pool, hasher, contacts.Options{ImportConsent: b.consent, ImportLimits: lim, ImportQueue: queue})
	logs := &syncBuffer{}
	d := b.api.Deps
	d.Contacts = svc
	d.Logger = slog.New(slog.NewTextHandler(logs, nil))
	api := httpapi.New(d, httpapi.Options{})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	cfg, err := pgxpool.ParseConfig(b.pool.Config().ConnString())
	require.NoError(t, err)
	cfg.MaxConns = 1
	observer, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(observer.Close)
	own := *b
	own.api, own.srv = api, srv
	return &importBundle{testBundle: &own, contacts: svc, logs: logs, observer: observer}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// queueFunc is an ImportQueue.
type queueFunc func(ctx context.Context, id int64) error

func (f queueFunc) EnqueueImport(ctx context.Context, id int64) error { return f(ctx, id) }

// rawImport starts POST /v1/contacts/import on a connection of its own, announcing size
// bytes of body, and sends the first part: the rest is the test's to send, or not.
func (b *importBundle) rawImport(t *testing.T, size int, first string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.srv.URL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /v1/contacts/import HTTP/1.1\r\nHost: crier\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: text/csv\r\nContent-Length: %d\r\n\r\n%s", b.keys[auth.Admin], size, first)
	require.NoError(t, err)
	return conn
}

func readResponse(t *testing.T, conn net.Conn) response {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "the server must answer")
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: body}
}

func (b *importBundle) count(t *testing.T, query string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, b.observer.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
	}
}

// csvFile makes an import file: good phones, then bad lines, then duplicates of the first
// good phone.
func csvFile(good, bad, dups int) string {
	var sb strings.Builder
	sb.WriteString("phone,name\n")
	for i := range good {
		fmt.Fprintf(&sb, "+6591%06d,Good %d\n", i, i)
	}
	for i := range bad {
		if i%5 == 0 {
			fmt.Fprintf(&sb, "+6591%06d,\"bad quote\"x\n", i) // not valid CSV
		} else {
			fmt.Fprintf(&sb, "not-a-phone-%d,Bad\n", i)
		}
	}
	for i := range dups {
		fmt.Fprintf(&sb, "+6591000000,Again %d\n", i)
	}
	return sb.String()
}

// TestImportListsTheFirstRejectsAndServesThemAll: the answer and the import's page list
// the first 100 rejected and duplicate lines with the counts of all of them; every
// rejected line is stored (in blocks, not one row each) and served as CSV.
func TestImportListsTheFirstRejectsAndServesThemAll(t *testing.T) {
	b := setupImports(t, contacts.ImportLimits{}, nil)
	res := b.do(t, auth.Marketer, "POST", "/v1/contacts/import", csvFile(3, 250, 150))
	require.Equal(t, 200, res.status, "%s", res.body)
	out := res.json(t)
	id := int64(out["import_id"].(float64))
	require.Equal(t, "done", out["status"])
	require.EqualValues(t, 403, out["rows"])
	require.EqualValues(t, 3, out["created"])
	require.Len(t, out["rejected"], 100, "the answer lists the first 100 rejected lines")
	require.EqualValues(t, 250, out["rejected_count"])
	require.Equal(t, map[string]any{"phone": float64(200), "csv": float64(50)}, out["rejected_by_reason"])
	require.Equal(t, fmt.Sprintf("/v1/imports/%d/rejects", id), out["rejects_url"])
	first := out["rejected"].([]any)[0].(map[string]any)
	require.Equal(t, map[string]any{"line": float64(5), "error": "is not valid CSV: extraneous or missing \" in quoted-field"}, first)
	require.Len(t, out["duplicates"], 100)
	require.EqualValues(t, 150, out["duplicates_count"])
	require.Equal(t, map[string]any{"line": float64(2), "replaced_by": float64(404)}, out["duplicates"].([]any)[0])
	require.EqualValues(t, 250, b.count(t, `SELECT sum(lines) FROM contact_import_rejects WHERE import_id = $1`, id))
	require.EqualValues(t, 1, b.count(t, `SELECT count(*) FROM contact_import_rejects WHERE import_id = $1`, id), "one block")
	require.Zero(t, b.count(t, `SELECT count(*) FROM contact_import_chunks`), "the file is deleted once imported")

	page := b.do(t, auth.Ops, "GET", fmt.Sprintf("/v1/imports/%d", id), nil)
	require.Equal(t, 200, page.status, "%s", page.body)
	got := page.json(t)
	for _, k := range []string{"status", "rows", "created", "rejected", "rejected_count", "rejected_by_reason", "duplicates", "duplicates_count"} {
		require.Equal(t, out[k], got[k], k)
	}
	require.NotNil(t, got["finished_at"])

	rejects := b.do(t, auth.Ops, "GET", fmt.Sprintf("/v1/imports/%d/rejects", id), nil)
	require.Equal(t, 200, rejects.status, "%s", rejects.body)
	require.Equal(t, "text/csv; charset=utf-8", rejects.header.Get("Content-Type"))
	records, err := csv.NewReader(bytes.NewReader(rejects.body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, 251, "the header and every rejected line")
	require.Equal(t, []string{"line", "field", "error"}, records[0])
	require.Equal(t, []string{"6", "phone", "phone is not a phone number"}, records[2])
	require.Equal(t, "254", records[250][0], "in line order, to the last")

	require.Equal(t, 404, b.do(t, auth.Ops, "GET", "/v1/imports/999", nil).status)
	require.Equal(t, 404, b.do(t, auth.Ops, "GET", "/v1/imports/999/rejects", nil).status)
}

// TestImportAttributeColumns: columns other than the known ones become attributes, and
// the answer lists the attribute keys.
func TestImportAttributeColumns(t *testing.T) {
	b := setupImports(t, contacts.ImportLimits{}, nil)
	res := b.do(t, auth.Marketer, "POST", "/v1/contacts/import", "phone,name,tier,signup_date\n+6591000001,Ada,gold,2026-01-31\n")
	require.Equal(t, 200, res.status, "%s", res.body)
	out := res.json(t)
	require.EqualValues(t, 1, out["created"])
	require.Equal(t, []any{"signup_date", "tier"}, out["attribute_keys"])
	require.Equal(t, []any{"signup_date", "tier"}, out["new_attribute_keys"])
	require.EqualValues(t, 1, b.count(t, `SELECT count(*) FROM contacts WHERE attributes = '{"tier": "gold", "signup_date": "2026-01-31"}'`))

	page := b.do(t, auth.Ops, "GET", fmt.Sprintf("/v1/imports/%d", int64(out["import_id"].(float64))), nil).json(t)
	require.Equal(t, out["attribute_keys"], page["attribute_keys"])
	require.Equal(t, out["new_attribute_keys"], page["new_attribute_keys"])
}

// TestImportGoesOnInTheBackground: an import that does not end within the request's wait
// answers 202 with its id and Location; the import page follows it to the end.
func TestImportGoesOnInTheBackground(t *testing.T) {
	queued := make(chan int64, 1)
	b := setupImports(t, contacts.ImportLimits{}, queueFunc(func(_ context.Context, id int64) error {
		queued <- id // and no worker takes it, for now
		return nil
	}))
	res := b.do(t, auth.Marketer, "POST", "/v1/contacts/import", csvFile(5, 1, 0), "Prefer", "wait=1")
	require.Equal(t, 202, res.status, "%s", res.body)
	id := <-queued
	require.Equal(t, map[string]any{"import_id": float64(id), "status": "queued"}, res.json(t))
	require.Equal(t, fmt.Sprintf("/v1/imports/%d", id), res.header.Get("Location"))

	page := b.do(t, auth.Marketer, "GET", res.header.Get("Location"), nil).json(t)
	require.Equal(t, "queued", page["status"])
	require.Nil(t, page["finished_at"])
	require.Equal(t, 409, b.do(t, auth.Marketer, "GET", fmt.Sprintf("/v1/imports/%d/rejects", id), nil).status,
		"the rejected lines come with the import")

	// A worker runs it.
	require.NoError(t, b.contacts.ImportRun(context.Background(), id))
	page = b.do(t, auth.Marketer, "GET", res.header.Get("Location"), nil).json(t)
	require.Equal(t, "done", page["status"])
	require.EqualValues(t, 5, page["created"])
	require.EqualValues(t, 1, page["rejected_count"])

	// Prefer: respond-async asks for no wait at all.
	res = b.do(t, auth.Marketer, "POST", "/v1/contacts/import", csvFile(1, 0, 0), "Prefer", "respond-async")
	require.Equal(t, 202, res.status, "%s", res.body)
	require.Equal(t, "respond-async", res.header.Get("Preference-Applied"))
	<-queued
}

// TestImportUploadHoldsNoDatabaseConnection trickles an upload: while half of it is
// sent, the server holds no database connection and no transaction.
func TestImportUploadHoldsNoDatabaseConnection(t *testing.T) {
	b := setupImports(t, contacts.ImportLimits{}, nil)
	file := csvFile(2000, 0, 0)
	half := len(file) / 2
	conn := b.rawImport(t, len(file), file[:half])
	// The server has read what it was sent once the import exists or a connection is
	// taken (an import that streams into a transaction takes one).
	eventually(t, "the upload has begun", func() bool {
		return b.count(t, `SELECT count(*) FROM contact_imports`) > 0 || b.pool.Stat().AcquiredConns() > 0
	})
	busy := func() int64 {
		return int64(b.pool.Stat().AcquiredConns()) + b.count(t, `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'`)
	}
	eventually(t, "no connection is held while the body trickles in", func() bool { return busy() == 0 })
	for range 20 {
		require.Zero(t, busy(), "a connection or transaction is held while the body trickles in")
		time.Sleep(10 * time.Millisecond)
	}
	_, err := io.WriteString(conn, file[half:])
	require.NoError(t, err)
	res := readResponse(t, conn)
	require.Equal(t, 200, res.status, "%s", res.body)
	require.EqualValues(t, 2000, res.json(t)["created"])
}

// TestImportSlowUploadIsRefused: an upload that falls below the minimum rate is cut off
// with 408, and the import is failed.
func TestImportSlowUploadIsRefused(t *testing.T) {
	b := setupImports(t, contacts.ImportLimits{MinRate: 1 << 20, Grace: 200 * time.Millisecond}, nil)
	conn := b.rawImport(t, 1<<20, "phone\n+6591000001\n")
	res := readResponse(t, conn)
	require.Equal(t, 408, res.status, "%s", res.body)
	require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
	p := res.json(t)
	require.Equal(t, "urn:crier:problem:upload-too-slow", p["type"])
	require.Contains(t, p["detail"], "nothing was imported")
	eventually(t, "the import is failed", func() bool {
		return b.count(t, `SELECT count(*) FROM contact_imports WHERE status = 'failed' AND error LIKE 'the upload did not finish%'`) == 1
	})
	require.Zero(t, b.count(t, `SELECT count(*) FROM contacts`))
}

// TestImportsInProgressAreCapped: with the cap at one, an import while another is being
// received is refused with 429 and Retry-After, and admitted once the other has ended.
func TestImportsInProgressAreCapped(t *testing.T) {
	b := setupImports(t, contacts.ImportLimits{Concurrent: 1}, nil)
	file := csvFile(10, 0, 0)
	conn := b.rawImport(t, len(file), file[:20])
	eventually(t, "the first upload is admitted", func() bool {
		return b.count(t, `SELECT count(*) FROM contact_imports WHERE status = 'receiving'`) == 1
	})
	res := b.do(t, auth.Marketer, "POST", "/v1/contacts/import", csvFile(1, 0, 0))
	require.Equal(t, 429, res.status, "%s", res.body)
	require.Equal(t, "30", res.header.Get("Retry-After"))
	require.Equal(t, "urn:crier:problem:too-many-imports", res.json(t)["type"])

	_, err := io.WriteString(conn, file[20:])
	require.NoError(t, err)
	require.Equal(t, 200, readResponse(t, conn).status)
	res = b.do(t, auth.Marketer, "POST", "/v1/contacts/import", csvFile(1, 0, 0))
	require.Equal(t, 200, res.status, "%s", res.body)
}

// TestImportClientAbortIsNoServerError: a client that goes away in the middle of its
// upload is recorded as 499 in the audit log and the access log, and no error is logged.
func TestImportClientAbortIsNoServerError(t *testing.T) {
	b := setupImports(t, contacts.ImportLimits{}, nil)
	file := csvFile(2000, 0, 0)
	conn := b.rawImport(t, len(file), file[:len(file)/2])
	eventually(t, "the upload has begun", func() bool {
		return b.count(t, `SELECT count(*) FROM contact_imports`) > 0 || b.pool.Stat().AcquiredConns() > 0
	})
	require.NoError(t, conn.Close())
	eventually(t, "the request is audited", func() bool {
		return b.count(t, `SELECT count(*) FROM audit_log WHERE action = 'contact.import' AND status <> 0`) == 1
	})
	require.EqualValues(t, 499, b.count(t, `SELECT status FROM audit_log WHERE action = 'contact.import'`))
	eventually(t, "the access log line", func() bool { return strings.Contains(b.logs.String(), "msg=\"http request\"") })
	require.Contains(t, b.logs.String(), "status=499")
	require.NotContains(t, b.logs.String(), "level=ERROR")
	require.Zero(t, b.count(t, `SELECT count(*) FROM contacts`))
	require.EqualValues(t, 1, b.count(t, `SELECT count(*) FROM contact_imports WHERE status = 'failed'`))
}
