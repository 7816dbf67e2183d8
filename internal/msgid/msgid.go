// Package msgid names the messages Crier sends: a delivery's message id is made from the
// delivery id, and the delivery id can be read back from it. A receipt or a reply carries
// the message id, so Crier finds the delivery by its primary key, without an index of
// message ids that every send would write at a random place.
//
// An id is "3EB0" and 16 uppercase hex digits: the shape of WhatsApp Web's ids (whatsmeow
// makes it too, with GenerateMessageID). The digits are the delivery id put through a fixed
// permutation of the 64-bit numbers, so consecutive deliveries get unrelated-looking ids,
// as a web client's random ones are, and every delivery id gets its own. The permutation is
// not a secret: the ids only must not look like a counter.
package msgid

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
)

// Prefix starts every WhatsApp Web message id.
const Prefix = "3EB0"

// Pattern matches the ids Of makes, and only them, as a PostgreSQL regular expression:
// migrations/00010_deliveries_message_id_keyed.sql indexes the message ids that do not
// match it (older ids, made before), and the receipts' look-up names it word for word so
// that the planner can use that index.
const Pattern = `^3EB0[0-9A-F]{16}$`

// keys are the round keys of the permutation, fixed for good: changing them would change
// every delivery's message id.
var keys = func() (k [4]uint64) {
	sum := sha256.Sum256([]byte("crier/message-id/v2"))
	for i := range k {
		k[i] = binary.BigEndian.Uint64(sum[8*i:])
	}
	return k
}()

// Of returns the message id of a delivery.
func Of(deliveryID int64) string {
	v := permute(uint64(deliveryID))
	s := strconv.FormatUint(v, 16)
	return Prefix + strings.Repeat("0", 16-len(s)) + strings.ToUpper(s)
}

// Delivery returns the delivery id a message id was made from, and false when id is not
// of the shape Of makes (an older id, another client's, a confirmation reply's). A
// well-formed id always gives a number: whether a delivery was sent under it is for the
// database to say.
func Delivery(id string) (int64, bool) {
	if len(id) != len(Prefix)+16 || !strings.HasPrefix(id, Prefix) {
		return 0, false
	}
	digits := id[len(Prefix):]
	for i := 0; i < len(digits); i++ {
		if c := digits[i]; (c < '0' || c > '9') && (c < 'A' || c > 'F') {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(digits, 16, 64)
	if err != nil {
		return 0, false
	}
	return int64(unpermute(v)), true
}

// permute is a four-round Feistel network over the two 32-bit halves: a bijection of the
// 64-bit numbers, undone by unpermute.
func permute(v uint64) uint64 {
	l, r := uint32(v>>32), uint32(v)
	for _, k := range keys {
		l, r = r, l^round(k, r)
	}
	return uint64(l)<<32 | uint64(r)
}

func unpermute(v uint64) uint64 {
	l, r := uint32(v>>32), uint32(v)
	for i := len(keys) - 1; i >= 0; i-- {
		l, r = r^round(keys[i], l), l
	}
	return uint64(l)<<32 | uint64(r)
}

// round is the Feistel function: SplitMix64's finaliser of the half and the round key.
func round(k uint64, x uint32) uint32 {
	z := uint64(x) ^ k
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return uint32((z ^ z>>31) >> 32)
}
