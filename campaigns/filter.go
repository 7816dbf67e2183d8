package campaigns

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crierhq/crier/contacts"
	"github.com/crierhq/crier/internal/apperr"
)

// Audience is who a campaign goes to: an inline filter, or a saved segment (SegmentID,
// then no other field), whose filter is read at each launch and preview. A filter's
// conditions all apply (AND):
//
//   - TagsAny: the contact has one of them; TagsAll: it has all of them;
//   - Attributes: every condition holds on the contact's attributes (Condition);
//   - Countries: its country, else its phone's region, is one of them (ISO 3166 alpha-2);
//   - Locales: its locale is one of them; a bare language ("pt") also matches its
//     regional forms ("pt-BR"), a longer tag only itself;
//   - ConsentWithinDays: it granted consent for the campaign's channel and purpose within
//     that many days of the run;
//   - EngagedWithinDays: it read a message or replied within that many days of the run;
//     NeverEngaged: it never did either (the two are exclusive).
//
// At least one of TagsAny, TagsAll, Attributes, Countries and Locales is required. Those
// that also have one of ExcludeTags match but are skipped with delivery.SkipExcludedTag,
// so that the preview and the stats can say so.
type Audience struct {
	TagsAny           []string    `json:"tags_any"`
	TagsAll           []string    `json:"tags_all"`
	ExcludeTags       []string    `json:"exclude_tags"`
	Attributes        []Condition `json:"attributes,omitempty"`
	Countries         []string    `json:"countries,omitempty"`
	Locales           []string    `json:"locales,omitempty"`
	ConsentWithinDays int         `json:"consent_within_days,omitempty"`
	EngagedWithinDays int         `json:"engaged_within_days,omitempty"`
	NeverEngaged      bool        `json:"never_engaged,omitempty"`
	// SegmentID names a saved segment. A campaign stores it with the filter it last
	// resolved (kept when the segment is deleted); a segment's own filter has none.
	SegmentID int64 `json:"segment_id,omitempty"`
}

// Filter is an audience filter: an Audience without SegmentID, as a segment stores it.
type Filter = Audience

// Op is an attribute condition's operator.
type Op string

// The attribute operators.
const (
	OpEq     Op = "eq"     // equal to a string, number or boolean (same JSON type)
	OpNeq    Op = "neq"    // present, of the same JSON type, and different
	OpIn     Op = "in"     // equal to one of a list of strings, numbers or booleans
	OpExists Op = "exists" // present (value absent or true), or absent (value false)
	OpGt     Op = "gt"     // greater than a number, or later than a date
	OpLt     Op = "lt"     // less than a number, or earlier than a date
	OpGte    Op = "gte"    // greater than or equal, or that date or later
	OpLte    Op = "lte"    // less than or equal, or that date or earlier
)

// Condition is one test of a contact's attributes: the attribute Key compared with
// Value by Op. An attribute whose JSON type does not fit the value does not match; an
// attribute that is an array matches when one of its elements does.
type Condition struct {
	Key   string          `json:"key"`
	Op    Op              `json:"op"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Limits on what a filter may hold.
const (
	maxAudienceTag  = 100
	maxConditions   = 20
	maxInValues     = 100
	maxCountries    = 250
	maxLocales      = 100
	maxWithinDays   = 3650
	maxAttributeKey = 64 // contacts' limit: a longer key cannot exist
)

// comparisons are the operators that order values, in jsonpath.
var comparisons = map[Op]string{OpGt: ">", OpLt: "<", OpGte: ">=", OpLte: "<="}

// normalizeAudience checks and normalises an audience; field paths start with
// "audience.".
func normalizeAudience(a Audience) (Audience, []apperr.FieldError) {
	if a.SegmentID != 0 {
		if a.SegmentID < 0 {
			return Audience{}, []apperr.FieldError{{Field: "audience.segment_id", Message: "must be the id of a segment"}}
		}
		if !a.filterEmpty() {
			return Audience{}, []apperr.FieldError{{Field: "audience", Message: "give either segment_id or a filter, not both"}}
		}
		return Audience{SegmentID: a.SegmentID, TagsAny: []string{}, TagsAll: []string{}, ExcludeTags: []string{}}, nil
	}
	return normalizeFilter(a, "audience")
}

// filterEmpty reports whether no filter field is set.
func (a Audience) filterEmpty() bool {
	return len(a.TagsAny) == 0 && len(a.TagsAll) == 0 && len(a.ExcludeTags) == 0 && len(a.Attributes) == 0 &&
		len(a.Countries) == 0 && len(a.Locales) == 0 && a.ConsentWithinDays == 0 && a.EngagedWithinDays == 0 && !a.NeverEngaged
}

// normalizeFilter checks and normalises a filter; field paths start with prefix.
func normalizeFilter(a Audience, prefix string) (Audience, []apperr.FieldError) {
	var errs []apperr.FieldError
	fail := func(field, format string, args ...any) {
		errs = append(errs, apperr.FieldError{Field: prefix + "." + field, Message: fmt.Sprintf(format, args...)})
	}
	norm := func(name string, tags []string) []string {
		if len(tags) > maxAudienceTag {
			fail(name, "must have at most %d tags", maxAudienceTag)
			return []string{}
		}
		out, err := contacts.NormalizeTags(tags)
		if err != nil {
			fail(name, "%s", err.Error())
		}
		if out == nil {
			out = []string{}
		}
		return out
	}
	out := Audience{TagsAny: norm("tags_any", a.TagsAny), TagsAll: norm("tags_all", a.TagsAll), ExcludeTags: norm("exclude_tags", a.ExcludeTags),
		ConsentWithinDays: a.ConsentWithinDays, EngagedWithinDays: a.EngagedWithinDays, NeverEngaged: a.NeverEngaged}
	if a.SegmentID != 0 {
		fail("segment_id", "a segment's filter cannot name another segment")
	}
	if len(a.Attributes) > maxConditions {
		fail("attributes", "must have at most %d conditions", maxConditions)
	} else {
		for i, c := range a.Attributes {
			nc, cerrs := normalizeCondition(c, fmt.Sprintf("%s.attributes[%d]", prefix, i))
			errs = append(errs, cerrs...)
			out.Attributes = append(out.Attributes, nc)
		}
	}
	out.Countries = normList(a.Countries, maxCountries, "countries", contacts.NormalizeCountry, fail)
	out.Locales = normList(a.Locales, maxLocales, "locales", contacts.NormalizeLocale, fail)
	for _, f := range []struct {
		name string
		n    int
	}{{"consent_within_days", a.ConsentWithinDays}, {"engaged_within_days", a.EngagedWithinDays}} {
		if f.n != 0 && (f.n < 1 || f.n > maxWithinDays) {
			fail(f.name, "must be from 1 to %d days", maxWithinDays)
		}
	}
	if a.NeverEngaged && a.EngagedWithinDays != 0 {
		fail("never_engaged", "cannot be given with engaged_within_days: a contact cannot be both")
	}
	if len(errs) == 0 && len(out.TagsAny) == 0 && len(out.TagsAll) == 0 && len(out.Attributes) == 0 &&
		len(out.Countries) == 0 && len(out.Locales) == 0 {
		errs = append(errs, apperr.FieldError{Field: prefix, Message: "give at least one of tags_any, tags_all, attributes, countries " +
			"or locales: a campaign never goes to everyone by accident"})
	}
	return out, errs
}

// normList normalises each entry of a list (countries, locales), dropping duplicates.
func normList(in []string, limit int, name string, normalize func(string) (string, error), fail func(string, string, ...any)) []string {
	if len(in) > limit {
		fail(name, "must have at most %d entries", limit)
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for i, s := range in {
		v, err := normalize(s)
		if err == nil && v == "" {
			err = fmt.Errorf("must not be empty")
		}
		if err != nil {
			fail(fmt.Sprintf("%s[%d]", name, i), "%s", err.Error())
			continue
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// normalizeCondition checks one attribute condition and compacts its value; field is its
// path ("audience.attributes[1]").
func normalizeCondition(c Condition, field string) (Condition, []apperr.FieldError) {
	var errs []apperr.FieldError
	fail := func(sub, format string, args ...any) {
		errs = append(errs, apperr.FieldError{Field: field + "." + sub, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case c.Key == "":
		fail("key", "is required")
	case !utf8.ValidString(c.Key) || strings.ContainsRune(c.Key, 0):
		fail("key", "must be valid UTF-8 without NUL characters")
	case utf8.RuneCountInString(c.Key) > maxAttributeKey:
		fail("key", "must be at most %d characters long (an attribute key cannot be longer)", maxAttributeKey)
	}
	value, present, err := decodeValue(c.Value)
	if err != nil {
		fail("value", "is not valid JSON")
		return c, errs
	}
	out := Condition{Key: c.Key, Op: c.Op}
	switch c.Op {
	case OpEq, OpNeq:
		if !present || !scalar(value) {
			fail("value", "must be a string, a number or a boolean")
		}
	case OpIn:
		list, ok := value.([]any)
		switch {
		case !present || !ok:
			fail("value", "must be a list of strings, numbers or booleans")
		case len(list) == 0 || len(list) > maxInValues:
			fail("value", "must have 1 to %d values", maxInValues)
		default:
			for i, v := range list {
				if !scalar(v) {
					fail(fmt.Sprintf("value[%d]", i), "must be a string, a number or a boolean")
				}
			}
		}
	case OpExists:
		if _, ok := value.(bool); present && !ok {
			fail("value", "must be true (the attribute is present; the default) or false (it is absent)")
		}
	case OpGt, OpLt, OpGte, OpLte:
		switch v := value.(type) {
		case json.Number:
		case string:
			if _, _, ok := parseDate(v); !ok {
				fail("value", "must be a number or a date (YYYY-MM-DD or RFC 3339, e.g. 2026-01-31T09:00:00Z)")
			}
		default:
			fail("value", "must be a number or a date (YYYY-MM-DD or RFC 3339)")
		}
	case "":
		fail("op", "is required: one of eq, neq, in, exists, gt, lt, gte, lte")
	default:
		fail("op", "must be one of eq, neq, in, exists, gt, lt, gte, lte")
	}
	if present {
		var b bytes.Buffer
		if err := json.Compact(&b, c.Value); err == nil {
			out.Value = b.Bytes()
		}
	}
	return out, errs
}

// decodeValue decodes a condition's value, numbers as json.Number; present is false for
// an absent value or JSON null.
func decodeValue(raw json.RawMessage) (v any, present bool, err error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, false, err
	}
	if dec.More() {
		return nil, false, fmt.Errorf("more than one value")
	}
	return v, v != nil, nil
}

func scalar(v any) bool {
	switch v.(type) {
	case string, json.Number, bool:
		return true
	}
	return false
}

// parseDate reads a date (YYYY-MM-DD) or an RFC 3339 instant. It returns the text
// jsonpath's .datetime() reads: the date, or the instant in UTC with a numeric offset
// (.datetime() does not take "Z").
func parseDate(s string) (text string, dateOnly bool, ok bool) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.Format(time.DateOnly), true, true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC().Format("2006-01-02T15:04:05.999999-07:00"), false, true
	}
	return "", false, false
}

// dateForms are the ways .datetime() reads an attribute's date: its default ISO forms
// (a date, a timestamp with or without a numeric offset), then RFC 3339's "Z", with and
// without fractional seconds (a timestamp without offset: UTC, as the audience
// statements run with TimeZone UTC).
var dateForms = []string{`.datetime()`, `.datetime("YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"")`, `.datetime("YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"")`}

// attributePath returns the jsonpath predicate of a filter's attribute conditions (all
// must hold) and the variables it reads, or "" when there is none. Values are never
// written into the path: each is a variable ($v0, $v1, …) of vars; a key is a quoted
// jsonpath string, encoded as JSON (whose escapes jsonpath shares). The conditions must
// have passed normalizeCondition. jsonb_path_match_tz with silent true evaluates it: an
// attribute whose type does not fit is unknown, never an error.
func attributePath(conds []Condition) (path string, vars json.RawMessage, err error) {
	if len(conds) == 0 {
		return "", nil, nil
	}
	values := map[string]json.RawMessage{}
	terms := make([]string, len(conds))
	for i, c := range conds {
		k, err := json.Marshal(c.Key)
		if err != nil {
			return "", nil, err
		}
		key := "$." + string(k)
		v := fmt.Sprintf("v%d", i)
		values[v] = c.Value
		value, present, err := decodeValue(c.Value)
		if err != nil {
			return "", nil, err
		}
		switch c.Op {
		case OpEq:
			terms[i] = key + " == $" + v
		case OpNeq:
			terms[i] = key + " != $" + v
		case OpIn:
			terms[i] = key + " == $" + v + "[*]"
		case OpExists:
			terms[i] = "exists(" + key + ")"
			if b, ok := value.(bool); present && ok && !b {
				terms[i] = "!(exists(" + key + "))"
			}
		case OpGt, OpLt, OpGte, OpLte:
			cmp := comparisons[c.Op]
			s, isString := value.(string)
			if !isString {
				terms[i] = key + " " + cmp + " $" + v
				break
			}
			text, _, ok := parseDate(s)
			if !ok {
				return "", nil, fmt.Errorf("attribute condition %d: %q is not a date", i, s)
			}
			if values[v], err = json.Marshal(text); err != nil {
				return "", nil, err
			}
			forms := make([]string, len(dateForms))
			for j, f := range dateForms {
				forms[j] = key + f + " " + cmp + " $" + v + ".datetime()"
			}
			terms[i] = strings.Join(forms, " || ")
		default:
			return "", nil, fmt.Errorf("attribute condition %d: unknown op %q", i, c.Op)
		}
		terms[i] = "(" + terms[i] + ")"
	}
	b, err := json.Marshal(values)
	if err != nil {
		return "", nil, err
	}
	return strings.Join(terms, " && "), b, nil
}
