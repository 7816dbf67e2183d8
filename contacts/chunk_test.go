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

	out := make(chan *chunk, 10)
	c := newChunker(3, []chan<- *chunk{out})
	require.NoError(t, c.run(context.Background(), in))
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
		{rows: []int64{10, 8, 11}, replaced: []int64{7, 9}, records: 5}, // 9 replaced 7, then 10 replaced 9, in place
		{rows: []int64{12}, rejected: []int64{13, 14, 15}, records: 4},  // 12 repeats a phone of chunk 2
	}, chunks)
}

// TestChunkerDealsRowsToPartsByPhone checks the chunks of two parts: each phone goes to
// the part of its phoneKey, with all its lines, in file order (a later line replaces an
// earlier one of the part's chunk); rejected lines go to part 0; a part without a channel
// (committed by an earlier run) has its rows dropped, counted with part 0's records.
func TestChunkerDealsRowsToPartsByPhone(t *testing.T) {
	t.Parallel()
	row := func(line int64, phone string) importRow { return importRow{line: line, phone: phone} }
	rej := func(line int64) RejectedLine { return RejectedLine{Line: line, Reason: RejectCSV} }
	// phoneKey % 2: +6591000001 and +6591000003 are odd (part 1), +6591000002 and +6591000004 even (part 0).
	batches := []validated{
		{seq: 0, rows: []importRow{row(2, "+6591000001"), row(3, "+6591000002"), row(5, "+6591000003")},
			rejected: []RejectedLine{rej(4)}},
		{seq: 1, rows: []importRow{row(6, "+6591000004"), row(7, "+6591000001"), row(8, "+6591000002")}},
		{seq: 2, rows: []importRow{row(9, "+6591000003")}, rejected: []RejectedLine{rej(10)}},
	}
	type got struct {
		rows, replaced, rejected []int64
		records                  int64
	}
	deal := func(t *testing.T, parts []chan *chunk) [][]got {
		in := make(chan validated, len(batches))
		for i := len(batches) - 1; i >= 0; i-- { // out of order
			in <- batches[i]
		}
		close(in)
		out := make([]chan<- *chunk, len(parts))
		for i, p := range parts {
			if p != nil {
				out[i] = p
			}
		}
		require.NoError(t, newChunker(10, out).run(context.Background(), in))
		res := make([][]got, len(parts))
		for i, p := range parts {
			if p == nil {
				continue
			}
			close(p)
			for ch := range p {
				g := got{records: ch.records}
				for _, r := range ch.rows {
					g.rows = append(g.rows, r.line)
				}
				for _, r := range ch.replaced {
					g.replaced = append(g.replaced, r.line)
				}
				for _, r := range ch.rejected {
					g.rejected = append(g.rejected, r.Line)
				}
				res[i] = append(res[i], g)
			}
		}
		return res
	}
	both := deal(t, []chan *chunk{make(chan *chunk, 10), make(chan *chunk, 10)})
	require.Equal(t, [][]got{
		{{rows: []int64{8, 6}, replaced: []int64{3}, rejected: []int64{4, 10}, records: 5}},
		{{rows: []int64{7, 9}, replaced: []int64{2, 5}, records: 4}},
	}, both)
	onlyZero := deal(t, []chan *chunk{make(chan *chunk, 10), nil})
	require.Equal(t, [][]got{
		{{rows: []int64{8, 6}, replaced: []int64{3}, rejected: []int64{4, 10}, records: 9}},
		nil,
	}, onlyZero)
}
