package workers

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
)

// importLockedDelay is when an import whose run another worker holds is tried again.
const importLockedDelay = 30 * time.Second

// handleImport runs a stored import (contacts.Service.ImportRun). A run that fails rolls
// back, and the next one starts over; the last one fails the import, so that it is never
// left running.
func (m *Maintenance) handleImport(ctx context.Context, t *asynq.Task) error {
	var p ImportPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	err := m.imports.ImportRun(ctx, p.ImportID)
	switch {
	case err == nil:
		return nil
	case contacts.ErrImportLocked(err):
		return later(importLockedDelay, "the import runs elsewhere")
	case apperr.CodeOf(err) == apperr.NotFound:
		return fmt.Errorf("import %d: %w: %w", p.ImportID, err, asynq.SkipRetry)
	case lastAttempt(ctx):
		if ferr := m.imports.ImportFail(context.WithoutCancel(ctx), p.ImportID, err); ferr != nil {
			return fmt.Errorf("import %d: %w (and failing it: %v): %w", p.ImportID, err, ferr, asynq.SkipRetry)
		}
		return fmt.Errorf("import %d: %w: %w", p.ImportID, err, asynq.SkipRetry)
	}
	return fmt.Errorf("import %d: %w", p.ImportID, err)
}
