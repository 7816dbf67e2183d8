package contacts

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChunkerLastLineWins feeds batches out of file order, as parallel validators may,
// and checks the chunks: a later line replaces an earlier one of the same chunk in place,
// an older line arriving late is dropped, a phone of an earlier chunk comes back as a
// repeat, and every replaced line is reported with its winner.
func TestChunkerLastLineWins(t *testing.T) {
	t.Parallel()
	row := func(line int64, phone string) importRow { return importRow{line: line, phone: phone} }
	in := make(chan validated, 10)
	in <- validated{rows: []importRow{row(7, "+6591000001"), row(8, "+6591000002"), row(9, "+6591000001")}}
	in <- validated{rows: []importRow{row(2, "+6591000001"), row(3, "+6591000003")}, rejected: []RejectedLine{{Line: 4}}}
	in <- validated{rows: []importRow{row(10, "+6591000001"), row(11, "+6591000004"), row(12, "+6591000001")}}
	close(in)

	c := newChunker(3)
	out := make(chan *chunk, 10)
	require.NoError(t, c.run(context.Background(), in, out))
	close(out)
	type staged struct {
		line   int64
		repeat bool
	}
	var chunks [][]staged
	for ch := range out {
		var rows []staged
		for _, r := range ch.rows {
			rows = append(rows, staged{r.line, r.repeat})
		}
		chunks = append(chunks, rows)
	}
	require.Equal(t, [][]staged{
		{{9, false}, {8, false}, {3, false}}, // 9 replaced 7 in place; 2 came late and was dropped
		{{12, true}, {11, false}},            // 10 repeated +6591000001 of chunk 1, then 12 replaced 10
	}, chunks)
	require.Equal(t, []DuplicateLine{{Line: 2, ReplacedBy: 12}, {Line: 7, ReplacedBy: 12}, {Line: 9, ReplacedBy: 12}, {Line: 10, ReplacedBy: 12}}, c.duplicates())
	require.Equal(t, []RejectedLine{{Line: 4}}, c.rejected)
	require.Len(t, c.seen, 4)
	require.Equal(t, map[uint64]struct{}{phoneKey("+6591000001"): {}}, c.repeated)
}
