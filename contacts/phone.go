package contacts

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"

	"github.com/crierhq/crier/internal/phonehash"
)

// Phone is a phone number in every form Crier keeps of it. NewPhone derives them all
// from one input, so that a contact's number, its keyed hash (which the suppression list
// and the consent ledger are matched on) and its zone (which local-time campaigns read)
// always agree.
type Phone struct {
	E164   string // "+6591234567"
	Region string // ISO 3166 alpha-2 region of the number; "" for a non-geographic one
	Hash   []byte // the keyed hash of E164 (internal/phonehash)
	Zone   string // PhoneZone(E164): the number's IANA zone, "" when unknown or ambiguous
}

// NewPhone parses raw as NormalizePhone does (defaultRegion places a national number)
// and derives the number's hash under hasher, which must not be nil, and its zone. The
// error is NormalizePhone's, worded for a field message.
func NewPhone(raw, defaultRegion string, hasher *phonehash.Hasher) (Phone, error) {
	e164, region, err := NormalizePhone(raw, defaultRegion)
	if err != nil {
		return Phone{}, err
	}
	return derivePhone(e164, region, hasher), nil
}

// derivePhone derives the hash and the zone of a number NormalizePhone returned (in E.164,
// with its region). The import normalises in its validation step and derives here, in
// parallel, for the lines that passed.
func derivePhone(e164, region string, hasher *phonehash.Hasher) Phone {
	return Phone{E164: e164, Region: region, Hash: hasher.Sum(e164), Zone: PhoneZone(e164)}
}

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
	if e164, region, ok := fastE164(raw); ok {
		return e164, region, nil
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
	if !commonNumber(region, int(num.GetCountryCode()), phonenumbers.GetNationalSignificantNumber(num)) &&
		!phonenumbers.IsValidNumberForRegion(num, region) {
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

// fastE164 accepts input that is already canonical E.164 ("+6591234567") without the
// general parser, which costs three times as much as the validity check and dominates a
// large import. Country calling codes are prefix-free, so the first 1 to 3 digits that
// form a known code are the code. Anything unusual (a national number that starts with
// 0, an invalid number) is left to the general parser, so that this path only ever
// accepts what phonenumbers.Parse accepts, with the same result.
func fastE164(raw string) (e164, region string, ok bool) {
	if len(raw) < 8 || len(raw) > 16 || raw[0] != '+' || raw[1] == '0' {
		return "", "", false
	}
	for i := 1; i < len(raw); i++ {
		if raw[i] < '0' || raw[i] > '9' {
			return "", "", false
		}
	}
	for ccLen := 1; ccLen <= 3; ccLen++ {
		cc, _ := strconv.Atoi(raw[1 : 1+ccLen])
		if phonenumbers.GetRegionCodeForCountryCode(cc) == "ZZ" {
			continue
		}
		national := raw[1+ccLen:]
		if national == "" || national[0] == '0' {
			return "", "", false
		}
		nn, err := strconv.ParseUint(national, 10, 64)
		if err != nil {
			return "", "", false
		}
		num := &phonenumbers.PhoneNumber{CountryCode: proto.Int32(int32(cc)), NationalNumber: proto.Uint64(nn)}
		region = phonenumbers.GetRegionCodeForNumber(num)
		// national has no leading zero: it is the national significant number.
		if !commonNumber(region, cc, national) && !phonenumbers.IsValidNumberForRegion(num, region) {
			return "", "", false
		}
		if region == "ZZ" || region == "001" {
			region = ""
		}
		return raw, region, true
	}
	return "", "", false
}

// commonNumber says that a national significant number is valid in its region because it
// is a fixed-line or mobile number there, which most numbers of an import are. It is a
// shortcut of phonenumbers.IsValidNumberForRegion, which tries eight rarer types of
// number first, and builds and looks up the text of each pattern twice per type and
// call. A valid number matches the region's general description and the description of
// one type; commonNumber tests the same descriptions, compiled once and anchored as the
// library anchors them, for the two common types. So it never accepts a number that the
// library refuses, and a number it does not accept goes to the library.
func commonNumber(region string, cc int, nsn string) bool {
	m := regionNumbers(region)
	if m == nil || m.countryCode != cc || !m.general.match(nsn) {
		return false
	}
	return m.fixed.match(nsn) || (!m.sameMobileAndFixed && m.mobile.match(nsn))
}

// numberDescs is a region's general, fixed-line and mobile number descriptions, as
// commonNumber tests them.
type numberDescs struct {
	countryCode            int
	general, fixed, mobile numberDesc
	sameMobileAndFixed     bool
}

// numberDesc is one description of the library's metadata: the national significant
// numbers of possible lengths that match the pattern.
type numberDesc struct {
	lengths []int32        // none: any length
	pattern *regexp.Regexp // nil: the description has no pattern, and matches nothing
}

func newNumberDesc(d *phonenumbers.PhoneNumberDesc) numberDesc {
	if d.GetNationalNumberPattern() == "" {
		return numberDesc{}
	}
	return numberDesc{lengths: d.GetPossibleLength(), pattern: regexp.MustCompile("^(?:" + d.GetNationalNumberPattern() + ")$")}
}

// match is the library's isNumberMatchingDesc.
func (d numberDesc) match(nsn string) bool {
	if d.pattern == nil || (len(d.lengths) > 0 && !slices.Contains(d.lengths, int32(len(nsn)))) {
		return false
	}
	return d.pattern.MatchString(nsn)
}

// regionMetadata is the library's metadata of each region (not of the non-geographic
// calling codes, which share the region "001"); nil if it could not be read.
var regionMetadata = sync.OnceValue(func() map[string]*phonenumbers.PhoneMetadata {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil
	}
	regions := make(map[string]*phonenumbers.PhoneMetadata, len(coll.GetMetadata()))
	for _, md := range coll.GetMetadata() {
		if id := md.GetId(); id != "" && id != "001" {
			regions[id] = md
		}
	}
	return regions
})

// regionNumbersCache holds each region's descriptions, compiled on the region's first
// number: all 245 regions at once take about 40 ms and 4.5 MB, and an import sees a few.
var regionNumbersCache sync.Map // region → *numberDescs

// regionNumbers returns a region's descriptions for commonNumber, or nil for a region
// the metadata does not have.
func regionNumbers(region string) *numberDescs {
	if m, ok := regionNumbersCache.Load(region); ok {
		return m.(*numberDescs)
	}
	md := regionMetadata()[region]
	if md == nil {
		return nil
	}
	m, _ := regionNumbersCache.LoadOrStore(region, &numberDescs{
		countryCode:        int(md.GetCountryCode()),
		general:            newNumberDesc(md.GetGeneralDesc()),
		fixed:              newNumberDesc(md.GetFixedLine()),
		mobile:             newNumberDesc(md.GetMobile()),
		sameMobileAndFixed: md.GetSameMobileAndFixedLinePattern(),
	})
	return m.(*numberDescs)
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
