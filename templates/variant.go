package templates

// MaxWeight is the largest variant weight a template may have; Pick and Rotate count larger
// weights as MaxWeight, so that sums never overflow.
const MaxWeight = 1_000_000

// Choice is which text of a template one delivery gets. The worker stores it with the delivery
// the first time (stats are counted by variant) and renders from the stored choice on every
// retry, so that a retried send is the same message even if the account's previous variant,
// and so the rotation, has moved on since.
type Choice struct {
	Locale  string `json:"locale"`  // canonical tag of one of the template's locales
	Variant int    `json:"variant"` // index into that locale's variants
	Seed    uint64 `json:"seed"`    // the delivery's seed, which also picks the spins
}

// Choose makes the choice for one delivery: the template locale for the contact's locale
// (LocaleFor) and, in it, the variant by Rotate. seed is the delivery's (uint64(delivery.ID)
// is fine: it is hashed); prev is the variant index the sending account last sent of this
// template, or -1.
func (t Template) Choose(contactLocale string, seed uint64, prev int) Choice {
	i := t.LocaleFor(contactLocale)
	if i < 0 {
		return Choice{Variant: -1, Seed: seed}
	}
	l := t.Locales[i]
	locale := l.Locale
	if tag, err := canonicalLocale(locale); err == nil {
		locale = tag.String()
	}
	return Choice{Locale: locale, Variant: Rotate(seed, l.Weights(), prev), Seed: seed}
}

// Pick returns the index of the variant one delivery gets, from the delivery's seed: over many
// seeds, variant i is picked in the proportion weights[i]/sum(weights). The same seed always
// picks the same variant. Variants with a weight ≤ 0 are never picked unless all are, when all
// are equally likely. It returns -1 for no variants.
func Pick(seed uint64, weights []int) int {
	return pickWeighted(mix(seed, streamVariant), weights, -1)
}

// Rotate is Pick for an account that last sent variant prev (-1 for none): when another
// variant has a positive weight it never returns prev, so one account does not send the same
// wording twice in a row, and it still keeps each variant's long-run share equal to its weight.
//
// It is a Markov chain over variants with no self-loops whose stationary distribution is
// p = weights/sum: from i it moves to j ≠ i with probability proportional to
// p_j·(a_i + a_j), a_k = 1/(1−2p_k). The flow p_i·P(i→j) is then symmetric in i and j and sums
// to p_i over j, so p is stationary. No chain without self-loops can give a variant more than
// half of the sends, so when one weight is at least half the total that variant is sent every
// other time (prev ≠ it → it; prev = it → another by weight): it gets exactly half, and the
// others share the rest by weight.
func Rotate(seed uint64, weights []int, prev int) int {
	if prev < 0 || prev >= len(weights) {
		return Pick(seed, weights)
	}
	w, total := clampWeights(weights)
	if total == w[prev] { // no other variant can be picked
		return Pick(seed, weights)
	}
	h := mix(seed, streamVariant)
	heavy := 0
	for i := range w {
		if w[i] > w[heavy] {
			heavy = i
		}
	}
	if 2*w[heavy] >= total {
		if prev != heavy {
			return heavy
		}
		return pickWeighted(h, weights, prev)
	}
	// float64(…) around each product and sum forbids fused multiply-add, so every platform
	// computes the same bits and so picks the same variant.
	a := func(k int) float64 { return float64(float64(total) / float64(total-2*w[k])) }
	shares := make([]float64, len(w))
	var sum float64
	for j := range w {
		if j == prev || w[j] == 0 {
			continue
		}
		shares[j] = float64(float64(w[j]) * float64(a(prev)+a(j)))
		sum = float64(sum + shares[j])
	}
	u := float64(unit(h) * sum)
	last := -1
	for j, s := range shares {
		if s == 0 {
			continue
		}
		if u < s {
			return j
		}
		u = float64(u - s)
		last = j
	}
	return last // only reached through rounding
}

// pickWeighted picks an index in proportion to the positive weights, never skip.
func pickWeighted(h uint64, weights []int, skip int) int {
	w, total := clampWeights(weights)
	if skip >= 0 && skip < len(w) {
		total -= w[skip]
		w[skip] = 0
	}
	if total == 0 { // all candidates have weight ≤ 0: equally likely
		var candidates []int
		for i := range w {
			if i != skip {
				candidates = append(candidates, i)
			}
		}
		if len(candidates) == 0 {
			return -1
		}
		return candidates[below(h, uint64(len(candidates)))]
	}
	r := below(h, uint64(total))
	for i, x := range w {
		if r < uint64(x) {
			return i
		}
		r -= uint64(x)
	}
	return -1 // unreachable: r < total
}

// clampWeights returns the weights limited to [0, MaxWeight] and their sum.
func clampWeights(weights []int) ([]int64, int64) {
	w := make([]int64, len(weights))
	var total int64
	for i, x := range weights {
		w[i] = int64(min(max(x, 0), MaxWeight))
		total += w[i]
	}
	return w, total
}
