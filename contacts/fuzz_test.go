package contacts

import (
	"bytes"
	"encoding/json"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"
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

// TestCommonNumberAgreesWithTheLibrary: the shortcut accepts every region's example
// fixed-line and mobile number, and never a number that the library finds invalid, over
// the example numbers of every type and their neighbours in every supported region.
func TestCommonNumberAgreesWithTheLibrary(t *testing.T) {
	t.Parallel()
	types := []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
		phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}
	shortcut, checked := 0, 0
	for region := range phonenumbers.GetSupportedRegions() {
		cc := phonenumbers.GetCountryCodeForRegion(region)
		for _, typ := range types {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			nsn := phonenumbers.GetNationalSignificantNumber(ex)
			if (typ == phonenumbers.FIXED_LINE || typ == phonenumbers.MOBILE) && !commonNumber(region, cc, nsn) {
				t.Errorf("%s: the example %v number %s does not take the shortcut", region, typ, nsn)
			}
			// The example, and numbers a digit longer, shorter or different.
			for _, n := range []string{nsn, nsn + "1", nsn[:len(nsn)-1], nsn[:len(nsn)-1] + "9", "9" + nsn[1:]} {
				num := &phonenumbers.PhoneNumber{CountryCode: proto.Int32(int32(cc))}
				v, err := strconv.ParseUint(n, 10, 64)
				if err != nil || strings.HasPrefix(n, "0") {
					continue
				}
				num.NationalNumber = proto.Uint64(v)
				checked++
				if commonNumber(region, cc, n) {
					shortcut++
					if !phonenumbers.IsValidNumberForRegion(num, region) {
						t.Fatalf("%s: the shortcut accepts %s, the library refuses it", region, n)
					}
				}
			}
		}
		if ex := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE); ex != nil &&
			commonNumber(region, cc+1, phonenumbers.GetNationalSignificantNumber(ex)) {
			t.Fatalf("%s: the shortcut accepts a number of another calling code", region)
		}
	}
	if shortcut < 300 || checked-shortcut < 300 {
		t.Fatalf("%d of %d numbers took the shortcut: the sweep tests too little", shortcut, checked)
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
	f.Add("phone, Tier ,signup_date,points,vip\n+6591234567,gold,2026-01-31,42,TRUE\n+6591234568,,,007,\"a \"\"b\"\"\"\n")
	f.Add("phone,note,n\n+6591234567,\"x\ny\\\",-0.50\n+6591234568,\xff,9007199254740993\n")
	f.Add("phone,Tier,tier\n+6591234567,a,b\n")
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
			checkStagedAttributes(t, row.attributes, cols)
		}
	})
}

// checkStagedAttributes: a row's attributes are nil or a JSON object that PostgreSQL can store
// as jsonb, within the API's size limit, whose keys are the file's attribute columns and
// whose values are scalars.
func checkStagedAttributes(t *testing.T, attrs []byte, cols columns) {
	t.Helper()
	if attrs == nil {
		return
	}
	if len(attrs) > maxAttributesLen {
		t.Fatalf("attributes of %d bytes were staged", len(attrs))
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(attrs))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil || len(obj) == 0 {
		t.Fatalf("attributes %q are not a JSON object: %v", attrs, err)
	}
	if bytes.Contains(attrs, []byte(`\u0000`)) {
		t.Fatalf("attributes %q hold a NUL, which jsonb refuses", attrs)
	}
	for k, v := range obj {
		if !slices.ContainsFunc(cols.attrs, func(a attrColumn) bool { return a.key == k }) {
			t.Fatalf("key %q is not an attribute column", k)
		}
		switch v.(type) {
		case bool, json.Number, string:
		default:
			t.Fatalf("value %v of %q is not a scalar", v, k)
		}
	}
}

// FuzzAttributeJSON: every cell becomes one JSON value; a string keeps the cell exactly,
// and a number survives a float64 exactly.
func FuzzAttributeJSON(f *testing.F) {
	for _, s := range []string{"42", "-7", "0.5", "1.50", "007", "+6591234567", "9007199254740993", "1e6", "true", "FaLsE",
		"2026-01-31", "say \"hi\" \\o/", "a\nb\tc\x01", "café", "-0", "123456789012345", "1.23456789012345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cell string) {
		if cell == "" || checkAttributeValue(cell) != nil {
			return
		}
		out := attributeJSON(nil, cell)
		var v any
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil || dec.More() {
			t.Fatalf("%q → %q: not one JSON value (%v)", cell, out, err)
		}
		switch v := v.(type) {
		case bool:
			if !strings.EqualFold(cell, strconv.FormatBool(v)) {
				t.Fatalf("%q → %v", cell, v)
			}
		case string:
			if v != cell {
				t.Fatalf("%q → %q: the string changed", cell, v)
			}
		case json.Number:
			if v.String() != cell {
				t.Fatalf("%q → %q: the number is not the cell", cell, v)
			}
			x, err := strconv.ParseFloat(cell, 64)
			_, frac, _ := strings.Cut(cell, ".")
			if back := strconv.FormatFloat(x, 'f', len(frac), 64); err != nil || (back != cell && back != strings.TrimPrefix(cell, "-")) {
				t.Fatalf("%q does not survive a float64: %q (%v)", cell, back, err)
			}
		default:
			t.Fatalf("%q → %q: %T", cell, out, v)
		}
	})
}
