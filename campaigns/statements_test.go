package campaigns

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/consent"
	"github.com/crierhq/crier/delivery"
	"github.com/crierhq/crier/internal/sqltest"
)

// statements are the package's named statements with how many parameters each takes.
var statements = []sqltest.Statement{
	{Name: "launchDeliveries", SQL: launchDeliveries, Params: 26},
	{Name: "previewCounts", SQL: previewCounts, Params: 23},
	{Name: "previewSamples", SQL: previewSamples, Params: 24},
}

// audienceOf returns the audience subquery of an audience statement (launchDeliveries,
// previewCounts, previewSamples): the text between "FROM (" and ") m".
func audienceOf(t testing.TB, stmt string) string {
	t.Helper()
	start, end := strings.Index(stmt, "FROM (\n"), strings.LastIndex(stmt, ") m\n")
	require.True(t, start >= 0 && end > start, "no audience in %s", stmt)
	return strings.TrimRight(stmt[start+len("FROM (\n"):end], " \t\n")
}

// TestStatementParameters checks that each statement numbers its parameters $1 to $n,
// none left out, as its comment lists them.
func TestStatementParameters(t *testing.T) {
	t.Parallel()
	sqltest.CheckParams(t, statements...)
}

// TestAudienceIsOneText checks that the launch and the preview read the same audience, so
// that a preview counts exactly what a launch would materialise, and that audienceArgs
// gives its parameters.
func TestAudienceIsOneText(t *testing.T) {
	t.Parallel()
	audience := audienceOf(t, launchDeliveries)
	require.Equal(t, audience, audienceOf(t, previewCounts))
	// The samples read a few contacts: the same audience, the cap counted per contact.
	require.Equal(t, strings.Replace(audience, capGrouped, capPerContact, 1), audienceOf(t, previewSamples))
	require.NotEqual(t, audience, audienceOf(t, previewSamples))

	s := New(nil, Options{FrequencyCap: FrequencyCap{Max: -1}}) // no cap: no database to count runs in
	args, err := s.audienceArgs(context.Background(), nil, Campaign{}, consent.Marketing, time.Now(), false)
	require.NoError(t, err)
	require.Len(t, args, 23)
	for i, a := range args[:3] {
		require.NotNil(t, a.([]string), "tags parameter $%d is '{}', never NULL", i+1)
	}
}

// TestStatementsSpellTheConstants checks that the skip reasons the launch writes in SQL
// are delivery's constants.
func TestStatementsSpellTheConstants(t *testing.T) {
	t.Parallel()
	for _, reason := range []delivery.SkipReason{delivery.SkipExcludedTag, delivery.SkipFrequencyCapped, delivery.SkipLocalTimePassed} {
		require.Contains(t, launchDeliveries, "'"+string(reason)+"'")
	}
}
