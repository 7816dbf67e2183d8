package delivery

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/msgid"
	"github.com/crierhq/crier/internal/sqltest"
)

// statements are the package's named statements with how many parameters each takes.
var statements = []sqltest.Statement{
	{Name: "selectDeliveries", SQL: selectDeliveries, Params: 1},
	{Name: "lockContacts", SQL: lockContacts, Params: 2},
	{Name: "claimDeliveries", SQL: claimDeliveries, Params: 11},
	{Name: "markSent", SQL: markSent, Params: 5},
	{Name: "dispatchTake", SQL: dispatchTake, Params: 5},
	{Name: "dispatchInFlight", SQL: dispatchInFlight, Params: 4},
	{Name: "expireOverdue", SQL: expireOverdue, Params: 1},
	{Name: "lockKeyedReceiptTargets", SQL: lockKeyedReceiptTargets, Params: 2},
	{Name: "lockLegacyReceiptTargets", SQL: lockLegacyReceiptTargets, Params: 1},
	{Name: "applyReceiptUpdates", SQL: applyReceiptUpdates, Params: 6},
	{Name: "appendReceiptEvents", SQL: appendReceiptEvents, Params: 4},
	{Name: "settleFailed", SQL: settleFailed, Params: 2},
	{Name: "settleSkipped", SQL: settleSkipped, Params: 2},
	{Name: "settleExpired", SQL: settleExpired, Params: 1},
	{Name: "settleReleased", SQL: settleReleased, Params: 3},
	{Name: "settleParked", SQL: settleParked, Params: 1},
	{Name: "appendEvent", SQL: appendEvent, Params: 3},
}

// TestStatementParameters checks that each statement numbers its parameters $1 to $n,
// none left out, as its comment lists them.
func TestStatementParameters(t *testing.T) {
	t.Parallel()
	sqltest.CheckParams(t, statements...)
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
