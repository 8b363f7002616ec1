package actors_test

import (
	"fmt"
	"math"
	"slices"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	"github.com/tasktail/tasktail/client"
	"github.com/tasktail/tasktail/wire"
)

// refViewer is one attached connection in the model, and how far its frames have been
// checked. Its frames must be: hello; the queue (rule 1) or the replay (since); then live
// messages in seq order, each exactly once, with a gap frame for anything missing
// (except entries never acknowledged); a restart's epoch gap and new hello; the close.
type refViewer struct {
	name   string
	task   *refTask
	sock   *actortest.FakeSocket
	att    *actors.Attachment
	resume actors.Resume
	// When it attached: the seen watermark the queue starts after (rule 1).
	seenLo, seenHi uint64

	checked   int // frames checked so far
	hello     bool
	epoch     string
	pos       uint64 // the last seq accounted for, by a log or a gap
	epochGap  bool   // an epoch gap came: a hello must follow
	initial   bool   // the queue or replay after the first hello is not complete yet
	started   bool   // the queue has begun (its start is known)
	helloLast uint64 // last_seq of the first hello: where the queue or replay ends
	// pendingEpochGap: a resume from another incarnation opens with an epoch gap from it.
	pendingEpochGap uint64

	live      bool             // registered with its task: live messages reach it
	closeWant []wire.CloseCode // the close codes it may end with; nil: it stays open
	ended     bool             // closed as wanted: nothing more may come
	endEpoch  string           // where it stood when it stopped receiving live messages
	endPos    uint64
}

// stop records that the viewer gets nothing after seq pos of epoch and must close with
// one of codes.
func (v *refViewer) stop(epoch string, pos uint64, codes ...wire.CloseCode) {
	if v.closeWant == nil {
		v.closeWant = codes
		v.endEpoch, v.endPos = epoch, pos
		if v.live {
			v.task.subs--
		}
		v.live = false
	}
}

// check checks the frames that arrived since the last call against the model, and
// reports whether the viewer has everything it should have by now.
func (m *refModel) checkViewer(v *refViewer) (caughtUp bool, err error) {
	frames := v.sock.Frames()
	for ; v.checked < len(frames); v.checked++ {
		ev, perr := client.ParseEvent(frames[v.checked])
		if perr != nil {
			return false, fmt.Errorf("viewer %s frame %d: %v", v.name, v.checked, perr)
		}
		if v.ended {
			return false, fmt.Errorf("viewer %s: frame %s after its close", v.name, show(ev))
		}
		if err := m.viewerFrame(v, ev); err != nil {
			return false, fmt.Errorf("viewer %s (%s) frame %d %s: %w", v.name, v.task.id, v.checked, show(ev), err)
		}
	}
	code, reason, closed := v.sock.CloseCode()
	if closed && v.closeWant == nil {
		return false, fmt.Errorf("viewer %s (%s): closed with %d %q, want it open", v.name, v.task.id, code, reason)
	}
	if closed && !slices.Contains(v.closeWant, code) {
		return false, fmt.Errorf("viewer %s (%s): closed with %d %q, want one of %v", v.name, v.task.id, code, reason, v.closeWant)
	}
	if !v.hello || v.epochGap || v.initial && !m.initialMayEnd(v) {
		return false, nil
	}
	t := v.task
	pos := v.pos
	if v.initial {
		pos = max(pos, v.helloLast) // an empty queue, or one still on its way
	}
	if v.closeWant != nil {
		if v.epoch == v.endEpoch && pos < v.endPos {
			return false, nil
		}
		if closed {
			v.ended = true
		}
		return closed, nil
	}
	if t.epoch != "" && v.epoch != t.epoch {
		if r := t.maybeRestart; r == nil || v.epoch != r.old.epoch {
			return false, nil
		}
	}
	return slices.Contains(t.lastSeqs(), pos), nil
}

func show(ev client.Event) string {
	switch ev.Type {
	case "log":
		return fmt.Sprintf("log{seq %d %q}", ev.Seq, ev.Message)
	case "gap":
		return fmt.Sprintf("gap{%d-%d %s}", ev.FromSeq, ev.ToSeq, ev.Reason)
	}
	return fmt.Sprintf("hello{epoch %s last_seq %d finished %v}", ev.Epoch, ev.LastSeq, ev.Finished)
}

// initialMayEnd reports whether the queue or replay may be complete with what came: a
// queue after a crash may be empty or not, and its frames may still be on their way.
func (m *refModel) initialMayEnd(v *refViewer) bool {
	if v.pendingEpochGap != 0 {
		return false
	}
	if v.pos >= v.helloLast && (v.started || v.resume.Replay) {
		return true
	}
	return !v.resume.Replay && !v.started && v.seenLo <= v.helloLast && v.helloLast <= v.seenHi
}

func (m *refModel) viewerFrame(v *refViewer, ev client.Event) error {
	t := v.task
	if ev.TaskID != t.id {
		return fmt.Errorf("frame of task %q", ev.TaskID)
	}
	switch {
	case !v.hello:
		if ev.Type != "hello" {
			return fmt.Errorf("want hello first")
		}
		return m.firstHello(v, ev)
	case v.epochGap:
		if ev.Type != "hello" || ev.LastSeq != 0 || ev.Finished {
			return fmt.Errorf("want the new incarnation's hello after an epoch gap")
		}
		if ev.Epoch == v.epoch || t.knowsEpoch(ev.Epoch) && ev.Epoch != t.epoch {
			return fmt.Errorf("hello of an old epoch after an epoch gap")
		}
		v.epoch, v.pos, v.epochGap = ev.Epoch, 0, false
		return nil
	}
	if v.initial {
		if taken, err := m.initialFrame(v, ev); taken || err != nil {
			return err
		}
		if !m.initialMayEnd(v) {
			return fmt.Errorf("the queue or replay ended at seq %d, want %d", v.pos, v.helloLast)
		}
		v.initial, v.pos = false, max(v.pos, v.helloLast)
	}
	switch ev.Type {
	case "log":
		return m.logFrame(v, ev)
	case "gap":
		if ev.Reason != "epoch" || ev.ToSeq != 0 {
			return fmt.Errorf("a gap among live messages")
		}
		if ev.FromSeq != v.pos+1 && !t.skips(v.epoch, v.pos+1, ev.FromSeq-1) {
			return fmt.Errorf("epoch gap from %d, want %d", ev.FromSeq, v.pos+1)
		}
		v.epochGap = true
		return nil
	}
	return fmt.Errorf("a second hello without an epoch gap")
}

// firstHello checks the hello that opens a connection.
func (m *refModel) firstHello(v *refViewer, ev client.Event) error {
	t := v.task
	switch r := t.maybeRestart; {
	case r != nil && ev.Epoch == r.old.epoch:
	case r != nil && !r.old.knowsEpoch(ev.Epoch):
		t.settleRestart(true)
		fallthrough
	default:
		if err := t.learnEpoch(ev.Epoch); err != nil {
			return err
		}
	}
	lasts := t.lastSeqs()
	if !t.exists {
		lasts = []uint64{0}
	}
	if !slices.Contains(lasts, ev.LastSeq) {
		return fmt.Errorf("hello last_seq %d, want one of %v", ev.LastSeq, lasts)
	}
	if ev.Finished != (t.finished && ev.LastSeq == t.last) && !(t.maybe != nil && t.maybe.finished && ev.LastSeq == t.maybe.last) {
		return fmt.Errorf("hello finished %v, want %v", ev.Finished, t.finished)
	}
	v.hello, v.epoch, v.helloLast, v.initial = true, ev.Epoch, ev.LastSeq, true
	if !v.resume.Replay {
		return nil
	}
	since := v.resume.Since
	v.pos = since
	if v.resume.Epoch != "" && v.resume.Epoch != ev.Epoch || since > ev.LastSeq {
		v.pendingEpochGap = min(since, math.MaxUint64-1) + 1
	}
	return nil
}

// initialFrame takes ev as part of the queue or replay that follows the first hello, if
// it is one, and checks it.
func (m *refModel) initialFrame(v *refViewer, ev client.Event) (bool, error) {
	t, last := v.task, v.helloLast
	if v.pendingEpochGap != 0 {
		if ev.Type != "gap" || ev.Reason != "epoch" || ev.FromSeq != v.pendingEpochGap || ev.ToSeq != 0 {
			return true, fmt.Errorf("want an epoch gap from %d first (resume from another incarnation)", v.pendingEpochGap)
		}
		v.pendingEpochGap, v.pos = 0, 0
		return true, nil
	}
	part := ev.Type == "log" && ev.Seq <= last || ev.Type == "gap" && ev.Reason != "epoch"
	if !part {
		return false, nil
	}
	if !v.resume.Replay && !v.started {
		// The queue's first frame says where it starts: after the seen watermark.
		s := ev.Seq - 1
		if ev.Type == "gap" {
			s = ev.FromSeq - 1
		}
		if s < v.seenLo || s > v.seenHi {
			return true, fmt.Errorf("the queue starts after seq %d, want after the seen watermark (%d..%d)", s, v.seenLo, v.seenHi)
		}
		v.started, v.pos = true, s
		keepFrom := last - queueLength(last-s, uint64(m.cfg.queueLimit), uint64(m.cfg.queueKeep)) + 1
		switch {
		case ev.Type == "gap" && ev.Reason == "trimmed":
			if ev.ToSeq != keepFrom-1 {
				return true, fmt.Errorf("trimmed gap to %d, want to %d (rule 4 keeps %d of %d)", ev.ToSeq, keepFrom-1, last-keepFrom+1, last-s)
			}
			v.pos = ev.ToSeq
			return true, nil
		case ev.Type == "log" && keepFrom != s+1:
			return true, fmt.Errorf("the queue of %d messages lacks its trimmed gap to %d", last-s, keepFrom-1)
		}
	}
	if ev.Type == "log" {
		return true, m.logFrame(v, ev)
	}
	if ev.FromSeq != v.pos+1 || ev.ToSeq < ev.FromSeq || ev.ToSeq > last {
		return true, fmt.Errorf("gap %d-%d, want one from %d up to at most %d", ev.FromSeq, ev.ToSeq, v.pos+1, last)
	}
	if !m.gapAllowed(t, v, ev) {
		return true, fmt.Errorf("a %s gap the model does not allow here", ev.Reason)
	}
	v.pos = ev.ToSeq
	return true, nil
}

// gapAllowed reports whether entries may be missing from a queue or replay for ev's
// reason: the size cap's retention, the history without a journal, and entries a
// retention sweep raced (lossy).
func (m *refModel) gapAllowed(t *refTask, v *refViewer, ev client.Event) bool {
	for _, r := range t.lossy {
		if r.holds(v.epoch, ev.FromSeq, ev.ToSeq) {
			return true
		}
	}
	switch ev.Reason {
	case "retention":
		return m.cfg.capped
	case "history":
		oldest := uint64(1)
		if n := uint64(m.cfg.historyLimit); v.helloLast > n {
			oldest = v.helloLast - n + 1
		}
		return m.cfg.journal == "memory" && v.resume.Replay && ev.ToSeq == oldest-1
	}
	return false
}

// logFrame checks a log frame among live messages, or of the queue or replay.
func (m *refModel) logFrame(v *refViewer, ev client.Event) error {
	t := v.task
	if ev.Seq <= v.pos {
		return fmt.Errorf("seq %d again or out of order (after %d)", ev.Seq, v.pos)
	}
	if ev.Seq != v.pos+1 && !t.skips(v.epoch, v.pos+1, ev.Seq-1) {
		return fmt.Errorf("seqs %d-%d missing without a gap frame", v.pos+1, ev.Seq-1)
	}
	if err := m.logContent(t, v.epoch, ev); err != nil {
		return err
	}
	v.pos = ev.Seq
	return nil
}

// logContent checks that a log frame carries the message of its (epoch, seq).
func (m *refModel) logContent(t *refTask, epoch string, ev client.Event) error {
	if want, ok := m.msgs[epochSeq{epoch, ev.Seq}]; ok {
		if want != ev.Message {
			return fmt.Errorf("seq %d of epoch %s reused: got %q, earlier %q", ev.Seq, epoch, ev.Message, want)
		}
		return nil
	}
	if mp := t.maybe; mp != nil && mp.epoch == epoch && mp.first <= ev.Seq && ev.Seq <= mp.last && mp.msgs[ev.Seq-mp.first] == ev.Message {
		m.settleMaybe(t, true)
		return nil
	}
	return fmt.Errorf("a message nobody published or that was refused (epoch %s)", epoch)
}

// skips reports whether seqs from..to of epoch may be missing without a gap: entries of
// a write whose answer was lost, never acknowledged.
func (t *refTask) skips(epoch string, from, to uint64) bool {
	if mp := t.maybe; mp != nil && (seqRange{mp.epoch, mp.first, mp.last}).holds(epoch, from, to) {
		return true
	}
	for _, r := range t.skippable {
		if r.holds(epoch, from, to) {
			return true
		}
	}
	return false
}
