package templates

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/osteele/liquid"
	"github.com/osteele/liquid/expressions"
	"github.com/osteele/liquid/filters"
	"github.com/osteele/liquid/parser"
	"github.com/osteele/liquid/render"
	"github.com/osteele/liquid/values"
)

// Liquid runs in a sandbox, because templates are written by users and rendered by workers:
//
//   - no file access: the include tag (the only one in osteele/liquid v1.6 that reads a file;
//     there is no render tag) is refused when a template is parsed, and replaced by one that
//     fails should it ever run. Nothing in the library touches the network;
//   - no output outside the size limit: capture, which renders into a buffer of its own, is
//     refused; everything else writes through a writer that fails past Limits.MaxOutputBytes;
//   - no value past the size limit: every standard filter is wrapped to refuse inputs and
//     results longer than MaxOutputBytes or with more than MaxItems items, and to refuse a
//     replace or join whose result would be too long before building it (a template could
//     otherwise double a string forty times);
//   - no runaway: a guard is put between the statements of the parsed tree, so that it runs
//     at least once per loop iteration, even for an empty loop. (The library compiles an if
//     from a copy of its node, so the statements directly in an if's first branch go
//     unguarded; the loops in it are still guarded.) The guard counts steps against
//     Limits.MaxSteps and checks the deadline (Limits.Timeout, or the caller's context if
//     sooner); the output writer checks the deadline too. Work between two guards is
//     bounded by the source size and the filter limits. The check is cooperative: rendering
//     runs in the caller's goroutine and stops itself; nothing is left running;
//   - no panic escapes: the library panics on some inputs (a huge integer literal, a huge
//     truncate length); parse and render recover and report an error.

// Limits bound the work of rendering one message. Zero fields take the defaults.
type Limits struct {
	// MaxOutputBytes caps the rendered body and any single value built while rendering.
	// The default, 16384, holds 4096 characters even at 4 bytes each.
	MaxOutputBytes int
	// MaxSteps caps the statements executed; a loop executes its body once per item.
	// Default 20000 (a message looping over a contact's tags needs a few hundred).
	MaxSteps int
	// MaxItems caps the items in a list or range that a filter takes or makes. Default 1000.
	MaxItems int
	// Timeout caps the time one render may take. Default 250ms.
	Timeout time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxOutputBytes == 0 {
		l.MaxOutputBytes = 16 << 10
	}
	if l.MaxSteps == 0 {
		l.MaxSteps = 20_000
	}
	if l.MaxItems == 0 {
		l.MaxItems = 1000
	}
	if l.Timeout == 0 {
		l.Timeout = 250 * time.Millisecond
	}
	return l
}

func (l Limits) validate() error {
	if l.MaxOutputBytes < 0 || l.MaxSteps < 0 || l.MaxItems < 0 || l.Timeout < 0 {
		return errors.New("templates: limits must not be negative")
	}
	return nil
}

// forbiddenTags are the standard tags templates may not use, with the reason shown to users.
var forbiddenTags = map[string]string{
	"include": "the include tag is not allowed: templates cannot read files",
	"capture": "the capture tag is not allowed: use assign",
}

const (
	guardTag  = "crier_guard"
	budgetKey = "\x00budget" // not a Liquid identifier: templates cannot read or assign it
)

// sandbox parses and renders Liquid within Limits. It is safe for concurrent use.
type sandbox struct {
	engine  *liquid.Engine
	guard   render.Node
	limits  Limits
	filters map[string]bool // the filters templates may use
}

func newSandbox(limits Limits) *sandbox {
	s := &sandbox{engine: liquid.NewEngine(), limits: limits, filters: map[string]bool{}}
	filters.AddStandardFilters(guardedFilters{s})
	s.engine.RegisterTag("include", func(render.Context) (string, error) {
		return "", errors.New(forbiddenTags["include"])
	})
	// The guard comes from a configuration of its own, so that templates cannot name it, and
	// is a tag that writes nothing, so that it cannot disturb whitespace control.
	cfg := render.NewConfig()
	cfg.AddTag(guardTag, func(string) (func(io.Writer, render.Context) error, error) {
		return guardStep, nil
	})
	root, err := cfg.Compile("{% "+guardTag+" %}", parser.SourceLoc{})
	if err != nil {
		panic(fmt.Sprintf("templates: compile guard: %v", err)) // a programming error
	}
	s.guard = root.(*render.SeqNode).Children[0]
	return s
}

// compile parses Liquid source, refuses forbidden tags and puts the guards in place. Errors
// are *SyntaxError.
func (s *sandbox) compile(src string) (tpl *liquid.Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			tpl, err = nil, &SyntaxError{Message: "Liquid could not read this template: " + panicMessage(r)}
		}
	}()
	t, serr := s.engine.ParseTemplateLocation([]byte(src), "", 1)
	if serr != nil {
		return nil, &SyntaxError{Line: serr.LineNumber(), Message: liquidMessage(serr)}
	}
	var forbidden *SyntaxError
	walk(t.GetRoot(), func(n render.Node) {
		var tok parser.Token
		switch n := n.(type) {
		case *render.TagNode:
			tok = n.Token
		case *render.BlockNode:
			tok = n.Token
		default:
			return
		}
		if reason, ok := forbiddenTags[tok.Name]; ok && forbidden == nil {
			forbidden = &SyntaxError{Line: tok.SourceLoc.LineNo, Message: reason}
		}
	})
	if forbidden != nil {
		return nil, forbidden
	}
	s.guardNode(t.GetRoot())
	return t, nil
}

// walk calls visit for n and every node below it, in document order.
func walk(n render.Node, visit func(render.Node)) {
	visit(n)
	switch n := n.(type) {
	case *render.SeqNode:
		for _, c := range n.Children {
			walk(c, visit)
		}
	case *render.BlockNode:
		for _, c := range n.Body {
			walk(c, visit)
		}
		for _, c := range n.Clauses {
			walk(c, visit)
		}
	}
}

func (s *sandbox) guardNode(n render.Node) {
	switch n := n.(type) {
	case *render.SeqNode:
		n.Children = s.guarded(n.Children)
	case *render.BlockNode:
		n.Body = s.guarded(n.Body)
		for _, c := range n.Clauses {
			s.guardNode(c)
		}
	}
}

// guarded returns nodes with a guard before and after each, and one in an empty list, which
// is what stops an empty loop.
func (s *sandbox) guarded(nodes []render.Node) []render.Node {
	out := make([]render.Node, 0, 2*len(nodes)+1)
	out = append(out, s.guard)
	for _, n := range nodes {
		s.guardNode(n)
		out = append(out, n, s.guard)
	}
	return out
}

// execute renders Liquid source with vars within the limits.
func (s *sandbox) execute(ctx context.Context, src string, vars map[string]any) (out string, err error) {
	tpl, err := s.compile(src)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrRender, err)
	}
	run, cancel := context.WithTimeout(ctx, s.limits.Timeout)
	defer cancel()
	b := &budget{ctx: run, limits: s.limits}
	bindings := maps.Clone(vars)
	if bindings == nil {
		bindings = map[string]any{}
	}
	bindings[budgetKey] = b
	w := &cappedWriter{budget: b}
	defer func() {
		if r := recover(); r != nil {
			out, err = "", b.failure(ctx, fmt.Errorf("%w: %s", ErrRender, panicMessage(r)))
		}
	}()
	if rerr := tpl.FRender(w, bindings); rerr != nil {
		return "", b.failure(ctx, renderError(rerr))
	}
	return w.buf.String(), nil
}

// budget is one render's allowance of steps, bytes and time.
type budget struct {
	ctx    context.Context // carries the render's deadline
	limits Limits
	steps  int
	err    error // the first limit reached
}

func guardStep(_ io.Writer, ctx render.Context) error {
	b, ok := ctx.Get(budgetKey).(*budget)
	if !ok {
		return fmt.Errorf("%w: render budget missing", ErrLimit) // fail closed
	}
	b.steps++
	if b.steps > b.limits.MaxSteps {
		return b.fail(fmt.Errorf("%w: the template runs more than %d steps (check its loops)", ErrLimit, b.limits.MaxSteps))
	}
	return b.alive()
}

func (b *budget) alive() error {
	if b.err != nil {
		return b.err
	}
	if b.ctx.Err() != nil {
		return b.fail(fmt.Errorf("%w: rendering took longer than %s", ErrLimit, b.limits.Timeout))
	}
	return nil
}

func (b *budget) fail(err error) error {
	if b.err == nil {
		b.err = err
	}
	return b.err
}

// failure says why a render failed: the caller's context ending (which callers retry), a
// limit, or else err.
func (b *budget) failure(caller context.Context, err error) error {
	if caller.Err() != nil {
		return fmt.Errorf("templates: render: %w", caller.Err())
	}
	if b.err != nil {
		return b.err
	}
	return err
}

// cappedWriter collects the output, failing once it would pass MaxOutputBytes or the deadline.
type cappedWriter struct {
	budget *budget
	buf    strings.Builder
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if err := w.budget.alive(); err != nil {
		return 0, err
	}
	if max := w.budget.limits.MaxOutputBytes; w.buf.Len()+len(p) > max {
		return 0, w.budget.fail(fmt.Errorf("%w: the output is longer than %d bytes", ErrLimit, max))
	}
	return w.buf.Write(p)
}

// guardedFilters receives the standard filters and registers each, wrapped in size checks,
// in the sandbox's engine.
type guardedFilters struct{ s *sandbox }

func (g guardedFilters) AddFilter(name string, fn any) {
	f, l := reflect.ValueOf(fn), g.s.limits
	g.s.filters[name] = true
	g.s.engine.RegisterFilter(name, func(args ...any) (any, error) {
		if err := l.checkFilterInput(name, args); err != nil {
			return nil, err
		}
		out, err := values.Call(f, args)
		if err != nil {
			return nil, err
		}
		if err := l.checkValue(out); err != nil {
			return nil, err
		}
		return out, nil
	})
}

func (l Limits) checkFilterInput(name string, args []any) error {
	for _, a := range args {
		if err := l.checkValue(a); err != nil {
			return err
		}
	}
	var size int
	switch name {
	case "replace": // every match of old becomes new
		if len(args) == 3 {
			s, old, repl := fmt.Sprint(args[0]), fmt.Sprint(args[1]), fmt.Sprint(args[2])
			matches := len(s) + 1 // an empty old matches around every byte at most
			if old != "" {
				matches = strings.Count(s, old)
			}
			size = len(s) + matches*len(repl)
		}
	case "join": // items and separators
		if len(args) == 0 {
			break
		}
		sep := 1
		if len(args) > 1 {
			sep = len(fmt.Sprint(args[1]))
		}
		if r, ok := args[0].(interface{ Len() int }); ok { // a range of numbers
			size = r.Len() * (20 + sep)
		} else if items := reflect.ValueOf(args[0]); items.Kind() == reflect.Slice || items.Kind() == reflect.Array {
			size = items.Len() * sep
			for i := range items.Len() {
				size += len(fmt.Sprint(items.Index(i).Interface()))
			}
		}
	}
	if size > l.MaxOutputBytes {
		return fmt.Errorf("%w: %s would make a value longer than %d bytes", ErrLimit, name, l.MaxOutputBytes)
	}
	return nil
}

// checkValue refuses strings longer than MaxOutputBytes and lists or ranges with more than
// MaxItems items.
func (l Limits) checkValue(v any) error {
	switch v := v.(type) {
	case string:
		if len(v) > l.MaxOutputBytes {
			return fmt.Errorf("%w: a value is longer than %d bytes", ErrLimit, l.MaxOutputBytes)
		}
		return nil
	case []byte:
		if len(v) > l.MaxOutputBytes {
			return fmt.Errorf("%w: a value is longer than %d bytes", ErrLimit, l.MaxOutputBytes)
		}
		return nil
	case interface{ Len() int }: // values.Range, which filters would turn into a list
		switch n := v.Len(); {
		case n < 0:
			return errors.New("a range must not end before it starts")
		case n > l.MaxItems:
			return fmt.Errorf("%w: a list has more than %d items", ErrLimit, l.MaxItems)
		}
		return nil
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		if rv.Len() > l.MaxItems {
			return fmt.Errorf("%w: a list has more than %d items", ErrLimit, l.MaxItems)
		}
	}
	return nil
}

// renderError turns a Liquid render error into ErrLimit or ErrRender with the line.
func renderError(err liquid.SourceError) error {
	if cause := liquidCause(err); errors.Is(cause, ErrLimit) {
		return cause
	}
	msg := liquidMessage(err)
	if line := err.LineNumber(); line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	return fmt.Errorf("%w: %s", ErrRender, msg)
}

// liquidCause follows a Liquid error's causes, through filter errors, to the first one.
func liquidCause(err error) error {
	for range 32 { // causes do not nest deeper; the bound only guards against a cycle
		switch e := err.(type) {
		case expressions.FilterError:
			err = e.Err
		case interface{ Cause() error }:
			c := e.Cause()
			if c == nil {
				return err
			}
			err = c
		default:
			return err
		}
	}
	return err
}

var liquidPrefix = regexp.MustCompile(`^(Liquid error( \(line \d+\))?: )+`)

// liquidMessage returns a Liquid error's message without the library's "Liquid error (line N): "
// prefixes; the caller says where.
func liquidMessage(err error) string {
	return liquidPrefix.ReplaceAllString(err.Error(), "")
}

// panicMessage describes a value recovered from a panic in the library, without the stack
// trace the library sometimes attaches.
func panicMessage(r any) string {
	if c, ok := r.(interface{ Cause() error }); ok && c.Cause() != nil {
		r = c.Cause()
	}
	if n, ok := r.(*strconv.NumError); ok {
		return fmt.Sprintf("the number %s is out of range", n.Num)
	}
	msg := fmt.Sprint(r)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}
