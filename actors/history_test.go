package actors

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// The ring holds the newest frames within its count and byte limits, never dropping one
// from keepFrom on, and hands back exactly the frames it holds, in order, as it grows,
// wraps and drops.
func TestHistoryKeepsTheNewestWithinItsLimits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		limit, maxBytes := 1+r.IntN(20), 50+r.IntN(400)
		var h history
		var all [][]byte // every frame pushed; seq i+1 is all[i]
		var keepFrom uint64
		for range 100 {
			seq := uint64(len(all) + 1)
			frame := bytes.Repeat([]byte{byte(seq)}, 1+r.IntN(60))
			all = append(all, frame)
			if r.IntN(10) == 0 {
				h.reserve(r.IntN(5), limit)
			}
			switch { // a queue starts with the message at hand, or ends, now and then
			case r.IntN(20) == 0 && keepFrom == 0:
				keepFrom = seq
			case r.IntN(20) == 0:
				keepFrom = 0
			}
			if keepFrom != 0 && seq-keepFrom+1 > uint64(limit) {
				keepFrom = seq - uint64(limit) + 1 // the queue is the history's tail
			}
			h.push(seq, frame, limit, maxBytes, keepFrom)

			// The model: the newest frames, at most limit, dropping the oldest while over
			// maxBytes unless it is the last one or the queue's.
			oldest, size := seq+1, 0
			for s := seq; s >= 1 && seq-s < uint64(limit); s-- {
				oldest, size = s, size+len(all[s-1])
			}
			for size > maxBytes && oldest < seq && (keepFrom == 0 || oldest < keepFrom) {
				size -= len(all[oldest-1])
				oldest++
			}
			if got := h.oldest(seq); got != oldest {
				t.Fatalf("round %d seq %d: oldest %d, want %d", round, seq, got, oldest)
			}
			held := h.appendRange(nil, oldest, seq)
			for i, f := range held {
				if !bytes.Equal(f, all[oldest-1+uint64(i)]) {
					t.Fatalf("round %d seq %d: frame of seq %d wrong", round, seq, oldest+uint64(i))
				}
			}
		}
	}
}
