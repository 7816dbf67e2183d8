package whatsapp

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.mau.fi/whatsmeow"

	"github.com/crierhq/crier/internal/msgid"
)

// TestDeliveryIDsAreValid: the ids msgid makes for deliveries are ids Send takes.
func TestDeliveryIDsAreValid(t *testing.T) {
	t.Parallel()
	id := msgid.Of(42)
	require.Len(t, id, 20)
	require.Regexp(t, `^3EB0[0-9A-F]{16}$`, id)
	require.True(t, ValidMessageID(id))
	require.Equal(t, id, msgid.Of(42), "deterministic")
	require.Equal(t, "3EB0", id[:4])

	seen := map[string]int64{}
	for d := int64(-5); d < 20000; d++ {
		id := msgid.Of(d)
		require.True(t, ValidMessageID(id), id)
		prev, dup := seen[id]
		require.False(t, dup, "deliveries %d and %d share %s", prev, d, id)
		seen[id] = d
	}
}

func TestValidMessageID(t *testing.T) {
	t.Parallel()
	// whatsmeow's own generators (current and deprecated) make valid ids.
	var cli *whatsmeow.Client
	require.True(t, ValidMessageID(string(cli.GenerateMessageID())))
	require.True(t, ValidMessageID(string(whatsmeow.GenerateMessageID()))) //nolint:staticcheck // the older format is still valid

	for _, bad := range []string{
		"",
		"3EB0",
		"42",
		"delivery-42",
		"3EB0" + "0123456789abcdef01", // lowercase
		"3EB1" + "0123456789ABCDEF01", // prefix
		"3EB0" + "0123456789ABCDEF0",  // 17 digits
		"3EB0" + "0123456789ABCDEF012",
		"3EB0" + "0123456789ABCDEFG1",
		" 3EB00123456789ABCDEF01",
	} {
		require.False(t, ValidMessageID(bad), bad)
	}
}
