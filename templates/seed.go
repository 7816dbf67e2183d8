package templates

import "math/bits"

// Every random-looking choice in this package (the variant, each spintax group) is a pure
// function of the delivery's seed, so that a retried delivery makes the same choices in any
// process, on any machine and with any Go version. Each choice hashes the seed together with
// its own stream number with splitmix64 (Steele, Lea and Flood, 2014): consecutive seeds, such
// as delivery ids, still give independent-looking choices, and different streams of the same
// seed do not move together.
const (
	streamVariant uint64 = 0 // the variant pick
	streamSpin    uint64 = 1 // spintax group g uses streamSpin + g
)

// mix returns a well-mixed 64-bit value for one stream of seed.
func mix(seed, stream uint64) uint64 {
	return splitmix64(seed ^ splitmix64(stream))
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// below maps a uniform 64-bit h to [0, n) by multiply-and-shift (Lemire); the bias is at most
// n/2⁶⁴, far below anything a test or a campaign could notice.
func below(h, n uint64) uint64 {
	hi, _ := bits.Mul64(h, n)
	return hi
}

// unit maps a uniform 64-bit h to [0, 1).
func unit(h uint64) float64 {
	return float64(h>>11) / (1 << 53)
}
