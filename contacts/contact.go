package contacts

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"
	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/language"

	"github.com/crierhq/crier/internal/apperr"
)

// Contact is one customer.
type Contact struct {
	ID       int64
	Phone    string // E.164
	Name     string
	Email    string
	Locale   string // BCP 47, canonical
	Timezone string // IANA
	// Country is the ISO 3166 alpha-2 code set for the contact or, when none was set,
	// the region of their phone number.
	Country    string
	Tags       []string // sorted, unique
	Attributes map[string]any
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Fields are the profile fields of a create, update or import. A nil field was not given
// and is left as it is; an empty string clears it.
type Fields struct {
	Name     *string
	Email    *string
	Locale   *string
	Timezone *string
	Country  *string
	// Tags, when not nil, are added (create-or-update) or replace the contact's tags
	// (Update).
	Tags []string
	// Attributes, when not nil, are merged into the contact's attributes key by key; in
	// Update a null value removes its key.
	Attributes map[string]any
}

const (
	maxNameLen       = 200
	maxEmailLen      = 254
	maxAttributesLen = 16 << 10
	maxAttributeKey  = 64
)

var validate = validator.New(validator.WithRequiredStructEnabled())

// normalize trims and canonicalises f in place and returns the field errors.
func (f *Fields) normalize() []apperr.FieldError {
	var errs []apperr.FieldError
	fail := func(field string, err error) {
		errs = append(errs, apperr.FieldError{Field: field, Message: err.Error()})
	}
	if f.Name != nil {
		if v, err := normalizeName(*f.Name); err != nil {
			fail("name", err)
		} else {
			f.Name = &v
		}
	}
	if f.Email != nil {
		if v, err := normalizeEmail(*f.Email); err != nil {
			fail("email", err)
		} else {
			f.Email = &v
		}
	}
	if f.Locale != nil {
		if v, err := NormalizeLocale(*f.Locale); err != nil {
			fail("locale", err)
		} else {
			f.Locale = &v
		}
	}
	if f.Timezone != nil {
		if v, err := NormalizeTimezone(*f.Timezone); err != nil {
			fail("timezone", err)
		} else {
			f.Timezone = &v
		}
	}
	if f.Country != nil {
		if v, err := NormalizeCountry(*f.Country); err != nil {
			fail("country", err)
		} else {
			f.Country = &v
		}
	}
	if f.Tags != nil {
		if v, err := NormalizeTags(f.Tags); err != nil {
			fail("tags", err)
		} else {
			f.Tags = v
		}
	}
	if f.Attributes != nil {
		if err := checkAttributes(f.Attributes); err != nil {
			fail("attributes", err)
		}
	}
	return errs
}

func normalizeName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("is not valid UTF-8")
	}
	if strings.ContainsRune(s, 0) {
		return "", fmt.Errorf("contains a NUL character")
	}
	if n := utf8.RuneCountInString(s); n > maxNameLen {
		return "", fmt.Errorf("is %d characters long; the limit is %d", n, maxNameLen)
	}
	return s, nil
}

func normalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if len(s) > maxEmailLen || validate.Var(s, "email") != nil {
		return "", fmt.Errorf("is not an email address")
	}
	return s, nil
}

// NormalizeLocale returns the canonical form of a BCP 47 language tag ("pt_br" →
// "pt-BR"), or "" for "".
func NormalizeLocale(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	tag, err := language.Parse(strings.ReplaceAll(s, "_", "-"))
	if err != nil || tag == language.Und {
		return "", fmt.Errorf("%q is not a BCP 47 language tag (e.g. en, pt-BR, zh-Hant-TW)", truncate(s, 40))
	}
	return tag.String(), nil
}

// zoneCache remembers which names LoadLocation accepted: it reads files, and an import
// asks for the same few zones a million times. It is bounded so junk input cannot grow it.
var zoneCache = struct {
	sync.RWMutex
	ok map[string]bool
}{ok: make(map[string]bool)}

// NormalizeTimezone checks that s names a zone of the IANA time zone database, or is "".
func NormalizeTimezone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	zoneCache.RLock()
	ok, seen := zoneCache.ok[s]
	zoneCache.RUnlock()
	if !seen {
		_, err := time.LoadLocation(s)
		ok = err == nil && s != "Local" && len(s) <= 64
		zoneCache.Lock()
		if len(zoneCache.ok) < 4096 {
			zoneCache.ok[s] = ok
		}
		zoneCache.Unlock()
	}
	if !ok {
		return "", fmt.Errorf("%q is not an IANA time zone (e.g. Asia/Singapore, America/New_York, UTC)", truncate(s, 40))
	}
	return s, nil
}

var regions = phonenumbers.GetSupportedRegions()

// NormalizeCountry upper-cases an ISO 3166 alpha-2 code and checks that it is a region
// with a phone numbering plan, or is "".
func NormalizeCountry(s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return "", nil
	}
	if !regions[s] {
		return "", fmt.Errorf("%q is not an ISO 3166 alpha-2 country code (e.g. SG, US, BR)", truncate(s, 10))
	}
	return s, nil
}

func checkAttributes(attrs map[string]any) error {
	for k := range attrs {
		if k == "" || utf8.RuneCountInString(k) > maxAttributeKey {
			return fmt.Errorf("keys must be 1 to %d characters long", maxAttributeKey)
		}
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return fmt.Errorf("must be a JSON object")
	}
	if len(b) > maxAttributesLen {
		return fmt.Errorf("are %d bytes as JSON; the limit is %d", len(b), maxAttributesLen)
	}
	return nil
}
