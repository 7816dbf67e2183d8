package delivery

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/msgid"
)

// statements are the package's named statements with how many parameters each takes.
var statements = []struct {
	name, sql string
	params    int
}{
	{"selectDeliveries", selectDeliveries, 1},
	{"lockContacts", lockContacts, 2},
	{"claimDeliveries", claimDeliveries, 11},
	{"markSent", markSent, 5},
	{"dispatchTake", dispatchTake, 3},
	{"lockKeyedReceiptTargets", lockKeyedReceiptTargets, 2},
	{"lockLegacyReceiptTargets", lockLegacyReceiptTargets, 1},
	{"applyReceiptUpdates", applyReceiptUpdates, 6},
	{"appendReceiptEvents", appendReceiptEvents, 4},
	{"settleFailed", settleFailed, 2},
	{"settleSkipped", settleSkipped, 2},
	{"settleExpired", settleExpired, 1},
	{"settleReleased", settleReleased, 3},
	{"settleParked", settleParked, 1},
	{"appendEvent", appendEvent, 3},
}

var paramRE = regexp.MustCompile(`\$([0-9]+)`)

// TestStatementParameters checks that each statement numbers its parameters $1 to $n,
// none left out, as its comment lists them.
func TestStatementParameters(t *testing.T) {
	t.Parallel()
	for _, s := range statements {
		seen := map[int]bool{}
		for _, m := range paramRE.FindAllStringSubmatch(s.sql, -1) {
			n, err := strconv.Atoi(m[1])
			require.NoError(t, err)
			seen[n] = true
		}
		var got []int
		for n := range seen {
			got = append(got, n)
		}
		sort.Ints(got)
		want := make([]int, s.params)
		for i := range want {
			want[i] = i + 1
		}
		require.Equal(t, want, got, s.name)
	}
}

// TestStatementsSpellTheConstants checks that the values the statements write in SQL are
// the Go constants' (a skip reason, the statuses, the message id pattern) and that the
// statements that read a Delivery read Columns.
func TestStatementsSpellTheConstants(t *testing.T) {
	t.Parallel()
	require.Contains(t, claimDeliveries, "'"+string(SkipContactErased)+"'")
	require.Contains(t, lockLegacyReceiptTargets, "d.message_id !~ '"+msgid.Pattern+"'")
	for m, tr := range transitions {
		if tr.settle != "" {
			require.Contains(t, tr.settle, "SET status = '"+string(tr.to)+"'", m)
		}
	}

	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	columns := squash(Columns)
	require.True(t, strings.HasPrefix(squash(selectDeliveries), "SELECT "+columns+" FROM"), "selectDeliveries")
	_, returning, ok := strings.Cut(squash(claimDeliveries), "RETURNING ")
	require.True(t, ok)
	require.True(t, strings.HasPrefix(returning, columns+", "), "claimDeliveries")
}
