package contacts

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChunkerPutsBatchesInFileOrder feeds batches out of file order, as parallel
// validators may, and checks the chunks: they follow the file, a later line replaces an
// earlier one of the same chunk in place (the earlier one is reported as replaced), a
// phone of an earlier chunk is staged again (mergeSQL settles it), and a chunk also ends
// when its rejected lines reach the limit, so that a file of bad lines is stored a piece
// at a time.
func TestChunkerPutsBatchesInFileOrder(t *testing.T) {
	t.Parallel()
	row := func(line int64, phone string) importRow { return importRow{line: line, phone: phone} }
	rej := func(line int64) RejectedLine { return RejectedLine{Line: line, Reason: RejectCSV} }
	in := make(chan validated, 10)
	in <- validated{seq: 2, records: 3, rows: []importRow{row(10, "+6591000001"), row(11, "+6591000004"), row(12, "+6591000001")}}
	in <- validated{seq: 1, records: 3, rows: []importRow{row(7, "+6591000001"), row(8, "+6591000002"), row(9, "+6591000001")}}
	in <- validated{seq: 0, records: 5, rows: []importRow{row(2, "+6591000001"), row(3, "+6591000003")},
		rejected: []RejectedLine{rej(4), rej(5), rej(6)}}
	in <- validated{seq: 3, records: 3, rejected: []RejectedLine{rej(13), rej(14), rej(15)}}
	close(in)

	c := newChunker(3)
	out := make(chan *chunk, 10)
	require.NoError(t, c.run(context.Background(), in, out))
	close(out)
	type got struct {
		rows, replaced, rejected []int64
		records                  int64
	}
	lines := func(rows []importRow) (out []int64) {
		for _, r := range rows {
			out = append(out, r.line)
		}
		return out
	}
	var chunks []got
	for ch := range out {
		g := got{rows: lines(ch.rows), replaced: lines(ch.replaced), records: ch.records}
		for _, r := range ch.rejected {
			g.rejected = append(g.rejected, r.Line)
		}
		chunks = append(chunks, g)
	}
	require.Equal(t, []got{
		{rows: []int64{2, 3}, rejected: []int64{4, 5, 6}, records: 5},   // ends at 3 rejected lines
		{rows: []int64{10, 8, 11}, replaced: []int64{7, 9}, records: 6}, // 9 replaced 7, then 10 replaced 9, in place
		{rows: []int64{12}, rejected: []int64{13, 14, 15}, records: 3},  // 12 repeats a phone of chunk 2
	}, chunks)
}
