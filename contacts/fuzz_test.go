package contacts

import (
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// FuzzNormalizePhone: never panics; what it accepts is E.164 (what the database's CHECK
// demands) and normalising it again changes nothing.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+6591234567", "9123 4567", "(415) 555-2671", "+1 415 555 2671 ext. 12", "0065 9123 4567", "+٦٥٩١٢٣٤٥٦٧", "tel:+44-7400-123456", ""} {
		f.Add(s, "SG")
	}
	f.Fuzz(func(t *testing.T, raw, country string) {
		got, region, err := NormalizePhone(raw, country)
		if err != nil {
			if got != "" || region != "" {
				t.Fatalf("error %v with output %q %q", err, got, region)
			}
			return
		}
		if !e164.MatchString(got) {
			t.Fatalf("NormalizePhone(%q, %q) = %q: not E.164", raw, country, got)
		}
		again, region2, err := NormalizePhone(got, "")
		if err != nil || again != got || region2 != region {
			t.Fatalf("not idempotent: %q → %q (%v), region %q → %q", got, again, err, region, region2)
		}
	})
}

// FuzzFastE164 checks that the E.164 fast path accepts only what the general parser
// accepts, with the same number and region.
func FuzzFastE164(f *testing.F) {
	for _, s := range []string{"+6591234567", "+14155552671", "+114155552671", "+447400123456", "+390612345678", "+79123456789", "+88234567890", "+80012345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, region, ok := fastE164(raw)
		if !ok {
			return
		}
		num, err := phonenumbers.Parse(raw, "")
		if err != nil {
			t.Fatalf("fast path accepted %q, the parser refuses it: %v", raw, err)
		}
		want := phonenumbers.Format(num, phonenumbers.E164)
		wantRegion := phonenumbers.GetRegionCodeForNumber(num)
		if wantRegion == "ZZ" || wantRegion == "001" {
			wantRegion = ""
		}
		if got != want || region != wantRegion || !phonenumbers.IsValidNumber(num) {
			t.Fatalf("fast path: %q → %q %q; parser: %q %q valid=%v", raw, got, region, want, wantRegion, phonenumbers.IsValidNumber(num))
		}
	})
}

// TestFastE164AgreesWithTheParser sweeps numbers of every length across every calling code
// (about 70 000; FuzzFastE164 explores further).
func TestFastE164AgreesWithTheParser(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("sweep")
	}
	accepted := 0
	for cc := range phonenumbers.GetSupportedCallingCodes() {
		for i := range 300 {
			// Spread national numbers over 7 to 12 digits.
			n := uint64(1_000_000+i*7919) * uint64(1+i%6*10)
			raw := "+" + strconv.Itoa(cc) + strconv.FormatUint(n, 10)
			got, region, ok := fastE164(raw)
			if !ok {
				continue
			}
			accepted++
			num, err := phonenumbers.Parse(raw, "")
			if err != nil || phonenumbers.Format(num, phonenumbers.E164) != got || !phonenumbers.IsValidNumber(num) {
				t.Fatalf("%q: fast path %q, parser %v %v", raw, got, num, err)
			}
			if r := phonenumbers.GetRegionCodeForNumber(num); r != region && !(region == "" && (r == "ZZ" || r == "001")) {
				t.Fatalf("%q: region %q, parser %q", raw, region, r)
			}
		}
	}
	if accepted < 500 {
		t.Fatalf("only %d numbers took the fast path: the sweep tests nothing", accepted)
	}
}

// FuzzImportRows runs arbitrary files through the import's reading and validation (all of
// it but the database): it never panics, every record is either rejected with a line
// number and a reason or becomes a row that satisfies the database's constraints.
func FuzzImportRows(f *testing.F) {
	f.Add("phone,name\n+6591234567,Ada\n")
	f.Add("\xef\xbb\xbfphone,name,email,locale,timezone,country,tags,consent\r\n91234567,\"A, B\",a@b.co,en,UTC,SG,x;y,yes\r\n")
	f.Add("phone,name\n\"+6591234567\",\"multi\nline\"\n12,x\n")
	f.Add("phone,tags\n+6591234567,a;;b\n+6591234567,\"bad\"quote\n")
	f.Add("phone,consent\n+6591234567,maybe\n")
	f.Add("phone,name\n+6591234567,a\x00b\n")
	f.Fuzz(func(t *testing.T, file string) {
		in := newRecordReader(strings.NewReader(file))
		cols, err := in.header()
		if err != nil {
			return
		}
		opts := ImportOptions{DefaultCountry: "SG", Tags: []string{"t"}}
		var last int64
		for n := 0; ; n++ {
			rec, err := in.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return // the file as a whole is refused
			}
			if rec.line <= last {
				t.Fatalf("line numbers go backwards: %d after %d", rec.line, last)
			}
			last = rec.line
			row, rej := validateRecord(rec, cols, opts)
			if rej != nil {
				if rej.Line != rec.line || rej.Error == "" {
					t.Fatalf("rejection without line or reason: %+v", rej)
				}
				continue
			}
			if !e164.MatchString(row.phone) {
				t.Fatalf("staged phone %q is not E.164", row.phone)
			}
			for _, s := range append([]string{row.region, row.name, row.email, row.locale, row.timezone, row.country}, row.tags...) {
				if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
					t.Fatalf("a value cannot be stored as text: %q", s)
				}
			}
			for _, tag := range row.tags {
				if tag == "" || strings.Contains(tag, ";") {
					t.Fatalf("tag %q cannot travel joined by ;", tag)
				}
			}
			if c := row.consent; c != "" && c != ConsentGranted && c != ConsentWithdrawn {
				t.Fatalf("consent %q", c)
			}
		}
	})
}
