package workers

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
)

var _ contacts.ImportQueue = (*Handlers)(nil)

// EnqueueImport queues import:run for a stored import (contacts.ImportQueue). A failure is
// logged here: the import stays queued, and the reconciler queues it again.
func (h *Handlers) EnqueueImport(ctx context.Context, importID int64) error {
	if _, err := h.enqueue(ctx, NewImportTask(importID)); err != nil {
		h.log.WarnContext(ctx, "enqueue import", "import_id", importID, "error", err)
		return fmt.Errorf("workers: enqueue import %d: %w", importID, err)
	}
	return nil
}

// importLockedDelay is when an import whose run another worker holds is tried again.
const importLockedDelay = 30 * time.Second

// handleImport runs a stored import (contacts.Service.ImportRun). A run that fails rolls
// back, and the next one starts over; the last one fails the import, so that it is never
// left running.
func (h *Handlers) handleImport(ctx context.Context, t *asynq.Task) error {
	var p ImportPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	err := h.deps.Contacts.ImportRun(ctx, p.ImportID)
	switch {
	case err == nil:
		return nil
	case contacts.ErrImportLocked(err):
		return later(importLockedDelay, "the import runs elsewhere")
	case apperr.CodeOf(err) == apperr.NotFound:
		return fmt.Errorf("import %d: %w: %w", p.ImportID, err, asynq.SkipRetry)
	case lastAttempt(ctx):
		if ferr := h.deps.Contacts.ImportFail(context.WithoutCancel(ctx), p.ImportID, err); ferr != nil {
			return fmt.Errorf("import %d: %w (and failing it: %v): %w", p.ImportID, err, ferr, asynq.SkipRetry)
		}
		return fmt.Errorf("import %d: %w: %w", p.ImportID, err, asynq.SkipRetry)
	}
	return fmt.Errorf("import %d: %w", p.ImportID, err)
}
