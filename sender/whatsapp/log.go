package whatsapp

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sync/atomic"

	signallog "go.mau.fi/libsignal/logger"
	waLog "go.mau.fi/whatsmeow/util/log"
)

// longDigits matches what may be a phone number or a LID: a run of 7 or more digits,
// with an optional "+". whatsmeow writes JIDs (user@server, where user is the phone
// number) into many of its log lines.
var longDigits = regexp.MustCompile(`\+?[0-9]{7,}`)

// scrubDigits replaces every run of 7 or more digits with "<redacted>". It also catches
// timestamps and the like, a fair price for never logging a number.
func scrubDigits(s string) string {
	return longDigits.ReplaceAllString(s, "<redacted>")
}

// waLogger adapts log/slog to whatsmeow's logger. whatsmeow's debug lines carry whole
// protocol nodes (JIDs, push names), so they are dropped unless debug is set; every line,
// whatever its level, is scrubbed of digit runs. Message plaintext does not appear in
// whatsmeow's log lines at any level.
type waLogger struct {
	log    *slog.Logger
	module string
	debug  bool
}

var _ waLog.Logger = waLogger{}

func newWALogger(log *slog.Logger, module string, debug bool) waLogger {
	return waLogger{log: log, module: module, debug: debug}
}

func (w waLogger) Errorf(msg string, args ...any) { w.emit(slog.LevelError, msg, args) }
func (w waLogger) Warnf(msg string, args ...any)  { w.emit(slog.LevelWarn, msg, args) }
func (w waLogger) Infof(msg string, args ...any)  { w.emit(slog.LevelInfo, msg, args) }

func (w waLogger) Debugf(msg string, args ...any) {
	if w.debug {
		w.emit(slog.LevelDebug, msg, args)
	}
}

// Sub returns a logger for a part of whatsmeow ("Client/Socket").
func (w waLogger) Sub(module string) waLog.Logger {
	if w.module != "" {
		module = w.module + "/" + module
	}
	return waLogger{log: w.log, module: module, debug: w.debug}
}

func (w waLogger) emit(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !w.log.Enabled(ctx, level) {
		return
	}
	w.log.Log(ctx, level, scrubDigits(fmt.Sprintf(msg, args...)), "component", "whatsmeow", "wa_module", w.module)
}

// discardLogger is the default when Options.Logger is nil.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// signalLog is where libsignal's warnings and errors go: the logger of the latest
// Connector (Options.Logger), discarded until there is one.
var signalLog atomic.Pointer[slog.Logger]

// signalLogger adapts log/slog to libsignal's logger, a global of its package
// (go.mau.fi/libsignal/logger). Left unset, libsignal sets a default of its own on first
// use, without a lock (two devices created at once raced on it under go test -race),
// and that default prints its info, warning and error lines to stdout as they are.
// Here debug and info lines are dropped, and warnings and errors are scrubbed of digit
// runs like whatsmeow's.
type signalLogger struct{}

var _ signallog.Loggable = signalLogger{}

func (signalLogger) Debug(string, string)       {}
func (signalLogger) Info(string, string)        {}
func (signalLogger) Warning(caller, msg string) { emitSignal(slog.LevelWarn, caller, msg) }
func (signalLogger) Error(caller, msg string)   { emitSignal(slog.LevelError, caller, msg) }
func (signalLogger) Configure(string)           {}

func emitSignal(level slog.Level, caller, msg string) {
	log := signalLog.Load()
	if log == nil || !log.Enabled(context.Background(), level) {
		return
	}
	log.Log(context.Background(), level, scrubDigits(msg), "component", "libsignal", "caller", caller)
}

func init() {
	var l signallog.Loggable = signalLogger{}
	signallog.Setup(&l) // before any goroutine of this process can reach libsignal
}
