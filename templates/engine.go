package templates

import "errors"

// DefaultMaxLength is WhatsApp's limit on the text of one message, in the units of Length.
const DefaultMaxLength = 4096

// Options configures an Engine. The zero value gives the defaults.
type Options struct {
	// Footers adds or replaces default opt-out footers, keyed by BCP 47 tag (any case).
	// Each must name one of the opt-out keywords.
	Footers map[string]string
	// OptOutKeywords replaces the words a marketing footer must name one of (default:
	// DefaultOptOutKeywords). Built-in footers that name none of them are dropped.
	OptOutKeywords []string
	// MaxLength is the longest message allowed, body and footer, in the units of Length.
	// Default DefaultMaxLength.
	MaxLength int
	// Limits bound the work of one render.
	Limits Limits
}

// Engine validates, renders and previews templates. It holds no state beyond its
// configuration and a bounded cache of compiled Liquid, and is safe for concurrent use;
// make one per process.
type Engine struct {
	sandbox   *sandbox
	footers   *footers
	maxLength int
}

// New returns an Engine configured by opts, or an error naming the first bad option.
func New(opts Options) (*Engine, error) {
	if opts.MaxLength < 0 {
		return nil, errors.New("templates: MaxLength must not be negative")
	}
	if opts.MaxLength == 0 {
		opts.MaxLength = DefaultMaxLength
	}
	if err := opts.Limits.validate(); err != nil {
		return nil, err
	}
	f, err := newFooters(opts.Footers, opts.OptOutKeywords)
	if err != nil {
		return nil, err
	}
	return &Engine{
		sandbox:   newSandbox(opts.Limits.withDefaults()),
		footers:   f,
		maxLength: opts.MaxLength,
	}, nil
}
