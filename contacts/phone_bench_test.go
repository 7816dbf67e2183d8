package contacts

import (
	"fmt"
	"testing"
)

// BenchmarkNormalizePhone compares canonical E.164 input (the fast path) with national
// and decorated input (the general parser).
func BenchmarkNormalizePhone(b *testing.B) {
	inputs := map[string]func(i int) string{
		"e164":      func(i int) string { return fmt.Sprintf("+65%d", 90000000+i*37%8999999) },
		"national":  func(i int) string { return fmt.Sprintf("%d", 90000000+i*37%8999999) },
		"decorated": func(i int) string { return fmt.Sprintf("+65 %d-%04d", 9100+i%800, i%9999) },
	}
	for name, gen := range inputs {
		nums := make([]string, 1000)
		for i := range nums {
			nums[i] = gen(i)
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, _, err := NormalizePhone(nums[i%1000], "SG"); err != nil {
					b.Fatal(nums[i%1000], err)
				}
			}
		})
	}
}
