package actors

import "slices"

// history is a ring of the encoded log frames of a task's most recent messages, which have
// consecutive sequence numbers. It grows to its limit instead of being allocated up front,
// so an idle task costs little.
type history struct {
	frames [][]byte
	start  int    // index of the oldest frame
	first  uint64 // seq of the oldest frame; 0 when empty
}

// reserve makes room for n more frames at once, up to limit, so that a batch grows the
// ring once to its size instead of doubling its way there.
func (h *history) reserve(n, limit int) {
	if need := min(len(h.frames)+n, limit); need > cap(h.frames) {
		h.frames = slices.Grow(h.frames, need-len(h.frames))
	}
}

func (h *history) push(seq uint64, frame []byte, limit int) {
	switch {
	case len(h.frames) == 0:
		h.first = seq
		h.frames = append(h.frames, frame)
	case len(h.frames) < limit:
		h.frames = append(h.frames, frame)
	default:
		h.frames[h.start] = frame
		h.start = (h.start + 1) % len(h.frames)
		h.first++
	}
}

// oldest returns the seq of the oldest retained frame, or lastSeq+1 when none is retained.
func (h *history) oldest(lastSeq uint64) uint64 {
	if len(h.frames) == 0 {
		return lastSeq + 1
	}
	return h.first
}

// appendRange appends the frames of seqs from..to (inclusive, all retained) to dst.
func (h *history) appendRange(dst [][]byte, from, to uint64) [][]byte {
	for seq := from; seq <= to && seq != 0; seq++ {
		dst = append(dst, h.frames[(h.start+int(seq-h.first))%len(h.frames)])
	}
	return dst
}
