package workers

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/hibiken/asynq"
)

// Logger adapts a slog.Logger to Asynq's Logger, so that Asynq's own lines come out in the
// same structured form as Crier's, marked component=asynq.
type Logger struct{ l *slog.Logger }

var _ asynq.Logger = Logger{}

// NewLogger returns Asynq's view of l.
func NewLogger(l *slog.Logger) Logger { return Logger{l: l.With(slog.String("component", "asynq"))} }

func (a Logger) log(level slog.Level, args []any) {
	if !a.l.Enabled(context.Background(), level) {
		return
	}
	a.l.Log(context.Background(), level, fmt.Sprint(args...))
}

// Debug logs at debug level.
func (a Logger) Debug(args ...any) { a.log(slog.LevelDebug, args) }

// Info logs at info level.
func (a Logger) Info(args ...any) { a.log(slog.LevelInfo, args) }

// Warn logs at warn level.
func (a Logger) Warn(args ...any) { a.log(slog.LevelWarn, args) }

// Error logs at error level.
func (a Logger) Error(args ...any) { a.log(slog.LevelError, args) }

// Fatal logs at error level and exits, as Asynq expects of its Logger.
func (a Logger) Fatal(args ...any) {
	a.log(slog.LevelError, args)
	os.Exit(1)
}
