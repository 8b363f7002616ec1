package taskstate

// queue is what waits for the next viewer (rules 1, 3 and 4): the messages nobody has
// seen start at unseenFrom, and the trim rule keeps those from queuedFrom on.
type queue struct {
	unseenFrom uint64 // first seq no viewer has seen; 0 when nothing is queued
	queuedFrom uint64 // first seq still queued after the trim rule (when unseenFrom > 0)
}

// QueueLength is how many of n messages published while nobody watched the queue holds
// (rule 4): up to limit; the message that would make limit+1 leaves the newest keep, and
// the queue grows from there again. It is the one statement of the trim rule: a task
// applies it as messages arrive and when it loads its queue again.
func QueueLength(n, limit, keep uint64) uint64 {
	if n <= limit {
		return n
	}
	return keep + (n-(limit+1))%(limit+1-keep)
}

// enqueue adds the message at lastSeq to the queue and returns how many the trim rule
// dropped.
func (q *queue) enqueue(lastSeq uint64, r Rules) (trimmed uint64) {
	if q.unseenFrom == 0 {
		q.unseenFrom, q.queuedFrom = lastSeq, lastSeq
	}
	keepFrom := lastSeq - QueueLength(lastSeq-q.unseenFrom+1, uint64(r.QueueLimit), uint64(r.QueueKeep)) + 1
	if keepFrom > q.queuedFrom {
		trimmed = keepFrom - q.queuedFrom
		q.queuedFrom = keepFrom
	}
	return trimmed
}

// QueueStart is the first seq of the queue, or 0 when nothing is queued.
func (s *State) QueueStart() uint64 {
	if s.unseenFrom == 0 {
		return 0
	}
	return s.queuedFrom
}

// UnseenFrom is the first seq no viewer has seen, or 0 when nothing is queued: the
// messages from it to QueueStart-1 were dropped by the trim rule.
func (s *State) UnseenFrom() uint64 { return s.unseenFrom }

// Queued is how many messages the queue holds of those from oldest on (what the task
// still has: a task loaded again after the journal's size cap dropped part of its queue
// has fewer).
func (s *State) Queued(oldest uint64) uint64 {
	if s.unseenFrom == 0 {
		return 0
	}
	return s.LastSeq - max(s.queuedFrom, oldest) + 1
}

// Seen is the queue's watermark: every seq up to it was handed to a viewer.
func (s *State) Seen() uint64 {
	if s.unseenFrom == 0 {
		return s.LastSeq
	}
	return s.unseenFrom - 1
}
