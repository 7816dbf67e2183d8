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
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
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
//
// Parsing costs most of a render, and the workers render the same few sources (a variant's
// spins) for every recipient of a campaign, so compiled templates are kept in an LRU cache
// keyed by the source (see compiled), and one *liquid.Template is rendered by many goroutines
// at once. In osteele/liquid v1.6 a render writes only to state of its own, with the one
// exception of the cycle tag:
//
//   - Template.FRender passes the root, bindings and a copy of the Config to render.Render
//     (template.go), which makes a fresh trimWriter and a nodeContext whose bindings are a new
//     map copied from ours (render/render.go Render, render/node_context.go newNodeContext);
//     assign, for and tablerow write their variables (and forloop, with the cycle counters,
//     made for each run of a loop) only there (tags/standard_tags.go assignTag,
//     tags/iteration_tags.go loopRenderer.render, render/context.go Set);
//   - nodes hold the token, the compiled expression and the tag's render closure, and are
//     not written while rendering; expression evaluation makes a new expressions.context for
//     each call over those bindings (render/node_context.go Evaluate), and the closures of the
//     standard tags only read what they captured when the tree was compiled
//     (tags/control_flow_tags.go, tags/iteration_tags.go), except cycle's;
//   - the Config (tags, blocks, filters) is filled in newSandbox, before any render, and only
//     read afterwards;
//   - the guard node is one stateless TagNode shared by every tree: guardStep keeps nothing
//     of its own but finds the render's budget under budgetKey in the render's bindings, and
//     execute makes a new budget, writer and bindings map for every render.
//
// The cycle tag's render closure assigns its write error to the err of the compiler around it
// (tags/iteration_tags.go cycleTag, `_, err = io.WriteString(…)`): one variable for every
// render of the tree, which concurrent renders race on (go test -race finds it). compile puts
// cycleTag, the same tag without that assignment, in its place.
//
// compile replaces the cycle tags and puts the guards in place before the template is added to
// the cache, and the cache's lock orders that before any other goroutine's Get, so a cached
// tree is never modified once it is shared.

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

	// cacheSize is how many compiled sources the sandbox keeps: enough for the spins of the
	// variants of the campaigns a worker sends at once. A saved body is at most MaxBodyBytes,
	// and most are a few hundred bytes.
	cacheSize = 1024
)

// sandbox parses and renders Liquid within Limits. It is safe for concurrent use.
type sandbox struct {
	engine   *liquid.Engine
	own      render.Config // the tags compile puts in the tree: the guard and cycle
	guard    render.Node
	limits   Limits
	filters  map[string]bool                    // the filters templates may use
	cache    *lru.Cache[string, compiledLiquid] // by source; see compiled
	compiles atomic.Int64                       // calls of compile, for tests
}

// compiledLiquid is the outcome of compiling one source: a guarded template, or the
// *SyntaxError that refused it.
type compiledLiquid struct {
	tpl *liquid.Template
	err error
}

func newSandbox(limits Limits) *sandbox {
	cache, err := lru.New[string, compiledLiquid](cacheSize)
	if err != nil {
		panic(fmt.Sprintf("templates: template cache: %v", err)) // only for a size below 1
	}
	s := &sandbox{engine: liquid.NewEngine(), limits: limits, filters: map[string]bool{}, cache: cache}
	filters.AddStandardFilters(guardedFilters{s})
	s.engine.RegisterTag("include", func(render.Context) (string, error) {
		return "", errors.New(forbiddenTags["include"])
	})
	// The guard comes from a configuration of its own, so that templates cannot name it, and
	// is a tag that writes nothing, so that it cannot disturb whitespace control.
	s.own = render.NewConfig()
	s.own.AddTag(guardTag, func(string) (func(io.Writer, render.Context) error, error) {
		return guardStep, nil
	})
	s.own.AddTag("cycle", cycleTag)
	root, err := s.own.Compile("{% "+guardTag+" %}", parser.SourceLoc{})
	if err != nil {
		panic(fmt.Sprintf("templates: compile guard: %v", err)) // a programming error
	}
	s.guard = root.(*render.SeqNode).Children[0]
	return s
}

// compile parses Liquid source, refuses forbidden tags, replaces the cycle tags and puts the
// guards in place. Errors are *SyntaxError.
func (s *sandbox) compile(src string) (tpl *liquid.Template, err error) {
	s.compiles.Add(1)
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
	if err := s.replaceCycles(t.GetRoot()); err != nil {
		return nil, err
	}
	s.guardNode(t.GetRoot())
	return t, nil
}

// replaceCycles puts a cycleTag in place of each of the library's cycle tags below n. It
// replaces them in the slices the tree was built with, before guardNode makes new ones,
// because the library's if renders its first branch from a copy of its node that shares them.
func (s *sandbox) replaceCycles(n render.Node) error {
	var nodes []render.Node
	switch n := n.(type) {
	case *render.SeqNode:
		nodes = n.Children
	case *render.BlockNode:
		nodes = n.Body
		for _, c := range n.Clauses {
			if err := s.replaceCycles(c); err != nil {
				return err
			}
		}
	}
	for i, c := range nodes {
		tag, ok := c.(*render.TagNode)
		if !ok || tag.Name != "cycle" {
			if err := s.replaceCycles(c); err != nil {
				return err
			}
			continue
		}
		// The library read these arguments with the same parser; reading them again fails
		// only if the two disagree.
		root, err := s.own.Compile("{% cycle "+tag.Args+" %}", tag.SourceLoc)
		if err != nil {
			return &SyntaxError{Line: tag.SourceLoc.LineNo, Message: liquidMessage(err)}
		}
		seq, ok := root.(*render.SeqNode)
		if !ok || len(seq.Children) != 1 {
			return &SyntaxError{Line: tag.SourceLoc.LineNo, Message: "Liquid could not read this cycle tag"}
		}
		nodes[i] = seq.Children[0]
	}
	return nil
}

// cycleTag compiles {% cycle %} as osteele/liquid v1.6 does (tags/iteration_tags.go), except
// that its render closure writes nothing but the loop's counters, which are the render's own,
// and that a forloop the template assigned itself is an error rather than a panic.
func cycleTag(args string) (func(io.Writer, render.Context) error, error) {
	stmt, err := expressions.ParseStatement(expressions.CycleStatementSelector, args)
	if err != nil {
		return nil, err
	}
	group, values := stmt.Cycle.Group, stmt.Cycle.Values // the parser gives at least one value
	return func(w io.Writer, ctx render.Context) error {
		loop, _ := ctx.Get("forloop").(map[string]any)
		counts, ok := loop[".cycles"].(map[string]int)
		if !ok {
			return ctx.Errorf("cycle must be within a forloop")
		}
		n := counts[group]
		counts[group] = n + 1
		_, err := io.WriteString(w, values[n%len(values)])
		return err
	}, nil
}

// compiled returns the template compile makes of src, from the cache when src was compiled
// before. Errors are cached too: compiling depends on nothing but the source (the library's
// panics on a huge number or the like are as deterministic as its syntax errors), a
// *SyntaxError is never modified after it is made, and a body that does not compile is sent
// to every recipient of its campaign all the same, each failing; without the error in the
// cache each of those failures would parse the body again. Two goroutines that miss the same
// source at once both compile it; the second Add replaces the first, equal, entry.
//
// A cached tree is shared by concurrent renders and must never be modified. (Validation and
// previews call compile directly: they compile the flattened body, once, not a spin.)
func (s *sandbox) compiled(src string) (*liquid.Template, error) {
	if c, ok := s.cache.Get(src); ok {
		return c.tpl, c.err
	}
	tpl, err := s.compile(src)
	s.cache.Add(src, compiledLiquid{tpl: tpl, err: err})
	return tpl, err
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

// execute renders Liquid source with vars within the limits. The budget, the writer and the
// bindings are made for this render alone, which is what lets renders share a cached template.
func (s *sandbox) execute(ctx context.Context, src string, vars map[string]any) (out string, err error) {
	tpl, err := s.compiled(src)
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
