package msgid

import (
	"math"
	"regexp"
	"testing"
)

func TestOfAndBack(t *testing.T) {
	t.Parallel()
	shape := regexp.MustCompile(Pattern)
	seen := map[string]int64{}
	for _, d := range []int64{1, 2, 3, 42, math.MaxInt64, -1, 0} {
		id := Of(d)
		if !shape.MatchString(id) {
			t.Fatalf("Of(%d) = %q, not of the shape %s", d, id, Pattern)
		}
		back, ok := Delivery(id)
		if !ok || back != d {
			t.Fatalf("Delivery(Of(%d)) = %d, %v", d, back, ok)
		}
	}
	for d := int64(1); d <= 100_000; d++ {
		id := Of(d)
		if prev, dup := seen[id]; dup {
			t.Fatalf("deliveries %d and %d share %s", prev, d, id)
		}
		seen[id] = d
	}
	// Consecutive deliveries do not get ids that give the counter away.
	if a, b := Of(1000), Of(1001); a[:12] == b[:12] || a[12:] == b[12:] {
		t.Fatalf("Of(1000) = %s and Of(1001) = %s look alike", a, b)
	}
}

// The ids are fixed for good: the receipts of messages sent before an upgrade must still
// find their deliveries.
func TestOfIsStable(t *testing.T) {
	t.Parallel()
	if got, want := Of(1), "3EB0EE4222B3675182BE"; got != want {
		t.Fatalf("Of(1) = %s, want %s (the permutation changed)", got, want)
	}
}

func TestDeliveryRefusesOtherIDs(t *testing.T) {
	t.Parallel()
	for _, id := range []string{
		"",
		"3EB0",
		"e-2",
		"3EB0" + "0123456789abcdef",   // lowercase
		"3EB1" + "0123456789ABCDEF",   // another prefix
		"3EB0" + "0123456789ABCDE",    // 15 digits
		"3EB0" + "0123456789ABCDEF01", // 18: WhatsApp Web's current ids, and Crier's before
		"3EB0" + "0123456789ABCDEG",
		"3EB0" + "+123456789ABCDEF",
		" 3EB00123456789ABCDE",
	} {
		if d, ok := Delivery(id); ok {
			t.Errorf("Delivery(%q) = %d, want refused", id, d)
		}
		if regexp.MustCompile(Pattern).MatchString(id) {
			t.Errorf("%q matches %s but Delivery refuses it", id, Pattern)
		}
	}
}

// FuzzDelivery: Delivery and Pattern agree on what is an id of Of's, and an id read back
// is made again letter for letter.
func FuzzDelivery(f *testing.F) {
	shape := regexp.MustCompile(Pattern)
	f.Add(Of(1))
	f.Add("3EB0" + "0123456789ABCDEF01")
	f.Fuzz(func(t *testing.T, id string) {
		d, ok := Delivery(id)
		if ok != shape.MatchString(id) {
			t.Fatalf("Delivery(%q) ok = %v, but the pattern says %v", id, ok, !ok)
		}
		if ok && Of(d) != id {
			t.Fatalf("Of(Delivery(%q)) = %q", id, Of(d))
		}
		if !ok && d != 0 {
			t.Fatalf("refused %q but returned %d", id, d)
		}
	})
}
