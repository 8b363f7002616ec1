package actors

import "slices"

// history is a ring of the encoded log frames of a task's most recent messages, which have
// consecutive sequence numbers, bounded by a count and by bytes. It grows to its limits
// instead of being allocated up front, so an idle task costs little.
type history struct {
	frames [][]byte // the ring: frames[start] is the oldest of n
	start  int
	n      int
	first  uint64 // seq of the oldest frame; 0 when empty
	bytes  int    // the frames' size
}

// reserve makes room for n more frames at once, up to limit, so that a batch grows the
// ring once to its size instead of doubling its way there.
func (h *history) reserve(n, limit int) {
	if need := min(h.n+n, limit); need > cap(h.frames) {
		h.linearize()
		h.frames = slices.Grow(h.frames, need-len(h.frames))
	}
}

// push adds the frame of seq, the one after the newest, and drops the oldest frames while
// more than limit frames are held, or more than maxBytes bytes, but never one from
// keepFrom on (the queue, which QueueLimit bounds; 0: none).
func (h *history) push(seq uint64, frame []byte, limit, maxBytes int, keepFrom uint64) {
	switch {
	case h.n == 0:
		h.start, h.first = 0, seq
		if len(h.frames) == 0 {
			h.frames = append(h.frames, frame)
		} else {
			h.frames[0] = frame
		}
	case h.n < len(h.frames):
		h.frames[(h.start+h.n)%len(h.frames)] = frame
	case len(h.frames) < limit:
		h.linearize()
		h.frames = append(h.frames, frame)
	default: // full: the new frame takes the oldest one's place
		h.drop()
		h.frames[(h.start+h.n)%len(h.frames)] = frame
	}
	h.n++
	h.bytes += len(frame)
	for h.bytes > maxBytes && h.n > 1 && (keepFrom == 0 || h.first < keepFrom) {
		h.drop()
	}
}

// drop forgets the oldest frame.
func (h *history) drop() {
	h.bytes -= len(h.frames[h.start])
	h.frames[h.start] = nil
	h.start = (h.start + 1) % len(h.frames)
	h.first++
	h.n--
}

// linearize moves the frames to the front of the ring, oldest first, so that it can grow.
func (h *history) linearize() {
	if h.start == 0 {
		return
	}
	ordered := make([][]byte, h.n, cap(h.frames))
	for i := range h.n {
		ordered[i] = h.frames[(h.start+i)%len(h.frames)]
	}
	h.frames, h.start = ordered, 0
}

// oldest returns the seq of the oldest retained frame, or lastSeq+1 when none is retained.
func (h *history) oldest(lastSeq uint64) uint64 {
	if h.n == 0 {
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
