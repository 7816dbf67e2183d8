package workers

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/contacts"
)

// TestImportRunTask: a submitted import is queued as import:run with its id alone (no
// file, no phone in Redis), and the task imports it; an import whose task Redis lost is
// queued again by the reconciler.
func TestImportRunTask(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{CheckTasksAfter: time.Millisecond})
	// As `crier all` wires it: the API's contacts service queues imports on the workers' queue.
	queue := NewQueue(b.rdb, b.log)
	t.Cleanup(func() { _ = queue.Close() })
	b.contacts = contacts.New(b.pool, b.hasher, contacts.Options{ImportConsent: b.consent, ImportQueue: queue})
	h := New(Deps{Redis: b.rdb, Queue: queue, Sends: b.sends, Contacts: b.contacts, Consent: b.consent, Logger: b.log}, b.opts)
	t.Cleanup(func() { _ = h.Close() })
	ctx := context.Background()
	inspector := asynq.NewInspectorFromRedisClient(b.rdb)

	id, err := b.contacts.ImportSubmit(ctx, strings.NewReader("phone,name,consent\n+6591234567,Ada Tan,yes\n"),
		contacts.ImportOptions{ConsentSource: "shop", Actor: "test"}, nil)
	require.NoError(t, err)
	info, err := inspector.GetTaskInfo(QueueCampaigns, importTaskID(id))
	require.NoError(t, err)
	require.Equal(t, TypeImportRun, info.Type)
	require.JSONEq(t, `{"import_id": `+strconv.FormatInt(id, 10)+`}`, string(info.Payload))
	require.Equal(t, importMaxRetry, info.MaxRetry)

	require.NoError(t, h.Mux().ProcessTask(ctx, NewImportTask(id)))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM contacts WHERE name = 'Ada Tan'`))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM contact_imports WHERE id = $1 AND status = 'done'`, id))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM consent_state WHERE status = 'granted'`), "the consent column is recorded")

	// Redis loses the task of a stored import.
	id, err = b.contacts.ImportSubmit(ctx, strings.NewReader("phone\n+6591234568\n"), contacts.ImportOptions{}, nil)
	require.NoError(t, err)
	require.NoError(t, b.rdb.FlushDB(ctx).Err())
	time.Sleep(5 * time.Millisecond) // CheckTasksAfter
	r, err := h.Maintenance().Reconcile(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, r.ImportsQueued)
	client := asynq.NewClientFromRedisClient(b.rdb)
	_, err = client.EnqueueContext(ctx, NewImportTask(id))
	require.ErrorIs(t, err, asynq.ErrTaskIDConflict, "queued again")
	r, err = h.Maintenance().Reconcile(ctx)
	require.NoError(t, err)
	require.Zero(t, r.ImportsQueued, "a task that exists is left alone")
	require.NoError(t, h.Mux().ProcessTask(ctx, NewImportTask(id)))
	require.Equal(t, 1, b.count(`SELECT count(*) FROM contact_imports WHERE id = $1 AND status = 'done'`, id))
}
