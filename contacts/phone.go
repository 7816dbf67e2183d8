package contacts

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// maxPhoneInput bounds what is handed to the parser: no real number, however decorated,
// is longer, and phonenumbers' cost grows with the input.
const maxPhoneInput = 64

// NormalizePhone parses raw and returns it in E.164 form ("+6591234567") with the ISO
// 3166 region the number belongs to. A national number ("9123 4567") needs
// defaultCountry, an ISO 3166 alpha-2 code. The error says why the number is rejected in
// words a marketer understands.
func NormalizePhone(raw, defaultCountry string) (e164, region string, err error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", "", errors.New("is required")
	}
	if len(raw) > maxPhoneInput || !utf8.ValidString(raw) {
		return "", "", errors.New("is not a phone number")
	}
	defaultCountry = strings.ToUpper(defaultCountry)
	num, err := phonenumbers.Parse(raw, defaultCountry)
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		if !strings.HasPrefix(raw, "+") && !strings.HasPrefix(raw, "00") && defaultCountry == "" {
			return "", "", errors.New("has no country code: write it as +<country code><number>, or give a default country")
		}
		return "", "", errors.New("has an unknown country code")
	case errors.Is(err, phonenumbers.ErrNotANumber):
		return "", "", errors.New("is not a phone number")
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return "", "", errors.New("is too short to be a phone number")
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return "", "", errors.New("is too long to be a phone number")
	case err != nil:
		return "", "", errors.New("is not a phone number")
	}
	region = phonenumbers.GetRegionCodeForNumber(num)
	if !phonenumbers.IsValidNumber(num) {
		where := region
		if where == "" || where == "ZZ" {
			where = fmt.Sprintf("country code +%d", num.GetCountryCode())
		}
		switch phonenumbers.IsPossibleNumberWithReason(num) {
		case phonenumbers.TOO_SHORT:
			return "", "", fmt.Errorf("is too short for %s", where)
		case phonenumbers.TOO_LONG:
			return "", "", fmt.Errorf("is too long for %s", where)
		case phonenumbers.INVALID_COUNTRY_CODE:
			return "", "", errors.New("has an unknown country code")
		}
		return "", "", fmt.Errorf("is not a valid number for %s", where)
	}
	if region == "ZZ" || region == "001" { // non-geographic numbers (satellite, UIFN…)
		region = ""
	}
	return phonenumbers.Format(num, phonenumbers.E164), region, nil
}

// MaskPhone hides the middle digits of an E.164 number for people without access to
// personal data: "+6591234567" becomes "+65••••••67". The country code stays readable,
// which is what a marketer needs to reason about a segment.
func MaskPhone(e164 string) string {
	digits := strings.TrimPrefix(e164, "+")
	if len(digits) <= 4 {
		return "+" + strings.Repeat("•", len(digits))
	}
	return "+" + digits[:2] + strings.Repeat("•", len(digits)-4) + digits[len(digits)-2:]
}

// MaskEmail hides an email address's local part but for its first letter:
// "jane@example.com" becomes "j•••@example.com".
func MaskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		if email == "" {
			return ""
		}
		return "•••"
	}
	first, _ := utf8.DecodeRuneInString(email)
	return string(first) + "•••" + email[at:]
}
