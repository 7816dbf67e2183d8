package templates

import (
	"context"
	"fmt"
)

const (
	// DefaultPreviewSpins is how many spins of each variant Preview renders when asked for none.
	DefaultPreviewSpins = 3
	// MaxPreviewSpins is the most spins of each variant Preview renders.
	MaxPreviewSpins = 20
)

// Preview is every variant of the template locale a contact would get, rendered a few times.
type Preview struct {
	Locale   string           `json:"locale"` // the template locale chosen for Data.Locale
	Variants []VariantPreview `json:"variants"`
}

// VariantPreview is one variant's renders.
type VariantPreview struct {
	Variant int `json:"variant"` // index in the locale's variants
	Weight  int `json:"weight"`
	// Spins is how many spins the body has (see Spin.Count).
	Spins uint64 `json:"spins"`
	// Variables are the data variables the body uses, sorted: "attributes.plan",
	// "campaign.name", "first_name".
	Variables []string `json:"variables"`
	Samples   []Sample `json:"samples"`
}

// Sample is one rendered spin.
type Sample struct {
	Seed   uint64 `json:"seed"`   // the seed that gives this spin
	Text   string `json:"text"`   // the whole message, footer included
	Length int    `json:"length"` // in the units of Length (UTF-16 code units)
	Error  string `json:"error,omitempty"`
}

// Preview renders every variant of the template locale chosen for d.Locale with d, spins times
// each (seeds 0 to spins-1; ≤ 0 means DefaultPreviewSpins, at most MaxPreviewSpins). A sample
// that cannot be rendered, or is over MaxLength, carries the reason in Error. The error is the
// context's, or ErrChoice for a template without locales.
func (e *Engine) Preview(ctx context.Context, t Template, d Data, spins int) (Preview, error) {
	if spins <= 0 {
		spins = DefaultPreviewSpins
	}
	spins = min(spins, MaxPreviewSpins)
	li := t.LocaleFor(d.Locale)
	if li < 0 {
		return Preview{}, fmt.Errorf("templates: preview: %w", ErrChoice)
	}
	l := t.Locales[li]
	p := Preview{Locale: l.Locale, Variants: make([]VariantPreview, len(l.Variants))}
	for i, v := range l.Variants {
		p.Variants[i] = VariantPreview{Variant: i, Weight: v.Weight, Variables: []string{}, Samples: make([]Sample, spins)}
		for seed := range uint64(spins) {
			p.Variants[i].Samples[seed].Seed = seed
		}
		footer, err := e.footerFor(t.Category, l)
		if err != nil {
			p.Variants[i].fail(err)
			continue
		}
		spin, err := ParseSpin(v.Body)
		if err != nil {
			p.Variants[i].fail(fmt.Errorf("%w: spintax: %w", ErrRender, err))
			continue
		}
		p.Variants[i].Spins = spin.Count()
		if tpl, err := e.sandbox.compile(spin.flatten()); err == nil {
			p.Variants[i].Variables = append(p.Variants[i].Variables, analyse(tpl.GetRoot(), e.sandbox.filters).variables...)
		}
		for s := range p.Variants[i].Samples {
			sample := &p.Variants[i].Samples[s]
			text, err := e.compose(ctx, spin.Resolve(sample.Seed), footer, d.vars())
			if ctx.Err() != nil {
				return Preview{}, fmt.Errorf("templates: preview: %w", ctx.Err())
			}
			sample.Text, sample.Length = text, Length(text)
			switch {
			case err != nil:
				sample.Error = err.Error()
			case sample.Length > e.maxLength:
				sample.Error = fmt.Sprintf("%v: %d characters, over the limit of %d", ErrTooLong, sample.Length, e.maxLength)
			}
		}
	}
	return p, nil
}

func (v *VariantPreview) fail(err error) {
	for i := range v.Samples {
		v.Samples[i].Error = err.Error()
	}
}
