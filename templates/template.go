package templates

import "time"

// Category says why a template is sent. It decides whether the opt-out footer is required.
type Category string

// The template categories.
const (
	// Marketing templates promote something; they need marketing consent and always end with
	// an opt-out footer.
	Marketing Category = "marketing"
	// Utility templates are about something the customer asked for or has going on (an order,
	// an appointment); their footer is optional.
	Utility Category = "utility"
)

// Valid reports whether c is one of the known categories.
func (c Category) Valid() bool {
	return c == Marketing || c == Utility
}

// Variant is one wording of a message. Body is Liquid with spintax; Weight is its share of the
// deliveries relative to the other variants of the same locale.
type Variant struct {
	Body   string `json:"body"`
	Weight int    `json:"weight"`
}

// Locale is a template's wording for one language: a BCP 47 tag, the variants and the footer
// appended to every message (literal text, neither Liquid nor spintax). A locale with Cloud
// is bound to a template Meta approved for the WhatsApp Cloud API: its variants and footer
// are derived from the binding (cloud.go).
type Locale struct {
	Locale   string         `json:"locale"`
	Variants []Variant      `json:"variants"`
	Footer   string         `json:"footer"`
	Cloud    *CloudTemplate `json:"cloud,omitempty"`
}

// Weights returns the variants' weights in order, as Pick and Rotate take them.
func (l Locale) Weights() []int {
	w := make([]int, len(l.Variants))
	for i, v := range l.Variants {
		w[i] = v.Weight
	}
	return w
}

// Template is a message template. The first locale is the default, used for contacts whose
// language the template does not have.
type Template struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Category  Category  `json:"category"`
	Locales   []Locale  `json:"locales"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}
