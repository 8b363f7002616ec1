package actors_test

import (
	"fmt"
	"slices"

	"github.com/tasktail/tasktail/actors"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// The reference model of TestModel: what the contract (docs/design.md) lets a task be
// after each operation, and what each viewer may have received. It holds no actor: the
// driver (model_test.go) runs each operation on the real Manager, tells the model what it
// did and what it answered, and the model says whether that is allowed.
//
// Where the contract allows more than one outcome the model keeps both until something
// decides:
//   - an ambiguous write (stored, its answer lost) of a publish: the entries are stored
//     at the next seqs or not at all (refTask.maybe); a later acknowledged seq, a frame of
//     them, a retry's answer or the status after a reload decides;
//   - an ambiguous restart: the task is a new incarnation or the old one (maybeRestart);
//   - a failed delete: the status that follows decides whether the task is gone;
//   - after a crash, the seen watermark is anywhere from the one the last write stored
//     to the one the task had in memory (seenLo..seenHi): a queue may be handed again,
//     never dropped.

// modelConfig is what the Manager and its journal were opened with.
type modelConfig struct {
	journal      string // "memory", "pebble" or "postgres"
	capped       bool   // the journal has a small MaxTaskBytes: its size cap trims
	queueLimit   int
	queueKeep    int
	historyLimit int
}

type epochSeq struct {
	epoch string
	seq   uint64
}

// seqRange is seqs from..to of one epoch.
type seqRange struct {
	epoch    string
	from, to uint64
}

func (r seqRange) holds(epoch string, from, to uint64) bool {
	return r.epoch == epoch && r.from <= from && to <= r.to
}

// keyAck is the first answer to a keyed publish.
type keyAck struct {
	epoch       string
	first, last uint64
}

// maybePublish is a publish whose write was ambiguous: stored at first..last or not.
type maybePublish struct {
	epoch       string
	first, last uint64
	msgs        []string
	finished    bool
	key         string
	start, end  int64 // when it was sent and answered: its entries' time, if stored
}

// maybeRestart is a restart whose write was ambiguous: the task may be a new incarnation.
type maybeRestart struct {
	old refTask // the task as it was, were the restart not stored
}

// refTask is one task_id in the model.
type refTask struct {
	id       string
	exists   bool
	epoch    string   // "" while a new incarnation has not been seen yet
	epochs   []string // every epoch it had, the current one included once seen
	last     uint64
	finished bool
	// seenLo..seenHi: the seen watermark (every seq up to it was handed to a subscriber);
	// exact unless a crash left the task with an older one from the journal. diskSeen is
	// the one the task's last write stored.
	seenLo, seenHi, diskSeen uint64
	subs                     int // subscribers registered and not gone
	keys                     map[string]keyAck
	keyOrder                 []string
	// keysLoose: the size cap may have dropped the entries that carried some keys
	// before a reload, so a retry may be stored again.
	keysLoose bool
	// skippable are entries never acknowledged (ambiguous writes that were stored): a
	// viewer may miss them without a gap.
	skippable []seqRange
	// lossy are entries a resume may get as a gap (a retention sweep raced a publish).
	lossy []seqRange

	maybe        *maybePublish
	maybeRestart *maybeRestart
	maybeDeleted bool // a delete failed: the next status says whether the task is gone
	// reloaded: the task has not been asked since a reload: its status is the journal's.
	reloaded bool
	// inMemory: a routed message reached the task since the last reload (with a journal).
	inMemory bool
	// The activity and finish times the journal may hold (unix nanoseconds), for sweeps.
	activeLo, activeHi     int64
	finishedLo, finishedHi int64
}

// uncertain reports whether an ambiguous write has not been decided yet.
func (t *refTask) uncertain() bool {
	return t.maybe != nil || t.maybeRestart != nil || t.maybeDeleted
}

// lastSeqs are the last_seq values the task may report.
func (t *refTask) lastSeqs() []uint64 {
	out := []uint64{t.last}
	if t.maybe != nil {
		out = append(out, t.maybe.last)
	}
	if t.maybeRestart != nil {
		out = append(out, t.maybeRestart.old.last)
	}
	return out
}

func (t *refTask) knowsEpoch(e string) bool { return slices.Contains(t.epochs, e) }

// learnEpoch takes e as the epoch of the task's new incarnation, which must be new.
func (t *refTask) learnEpoch(e string) error {
	if t.epoch != "" {
		if e != t.epoch {
			return fmt.Errorf("task %s: epoch %q, want %q", t.id, e, t.epoch)
		}
		return nil
	}
	if t.knowsEpoch(e) {
		return fmt.Errorf("task %s: a new incarnation reuses the epoch %q of an earlier one", t.id, e)
	}
	t.epoch = e
	t.epochs = append(t.epochs, e)
	return nil
}

// end forgets the incarnation: the task is gone (delete, sweep, crash without a journal).
func (t *refTask) end() {
	t.exists, t.epoch, t.last, t.finished = false, "", 0, false
	t.seenLo, t.seenHi, t.diskSeen = 0, 0, 0
	t.keys, t.keyOrder, t.keysLoose = nil, nil, false
	t.maybe, t.maybeRestart, t.maybeDeleted = nil, nil, false
	t.lossy = nil
	t.activeLo, t.activeHi, t.finishedLo, t.finishedHi = 0, 0, 0, 0
}

// restarted starts a new incarnation in place (Restart): the epoch is learned later.
func (t *refTask) restarted(epoch string, start, end int64) error {
	t.epoch = ""
	if err := t.learnEpoch(epoch); err != nil {
		return err
	}
	t.last, t.finished = 0, false
	t.seenLo, t.seenHi, t.diskSeen = 0, 0, 0
	t.keys, t.keyOrder, t.keysLoose = nil, nil, false
	if mp := t.maybe; mp != nil {
		t.skippable = append(t.skippable, seqRange{mp.epoch, mp.first, mp.last})
	}
	t.maybe, t.lossy = nil, nil
	t.activeLo, t.activeHi, t.finishedLo, t.finishedHi = start, end, 0, 0
	return nil
}

// settleRestart decides an ambiguous restart: stored (the task is the new incarnation,
// whose epoch it learns when it sees it) or not (the old incarnation goes on).
func (t *refTask) settleRestart(stored bool) {
	r := t.maybeRestart
	t.maybeRestart = nil
	if stored {
		return
	}
	subs, reloaded, inMemory := t.subs, t.reloaded, t.inMemory
	*t = r.old
	t.subs, t.reloaded, t.inMemory = subs, reloaded, inMemory
}

// remember records a keyed publish's first answer; the task keeps the last limit keys.
func (t *refTask) remember(key string, ack keyAck, limit int) {
	if key == "" {
		return
	}
	if t.keys == nil {
		t.keys = map[string]keyAck{}
	}
	if _, ok := t.keys[key]; !ok {
		t.keyOrder = append(t.keyOrder, key)
	}
	t.keys[key] = ack
	if len(t.keyOrder) > limit {
		delete(t.keys, t.keyOrder[0])
		t.keyOrder = t.keyOrder[1:]
	}
}

// queueLength is rule 4's closed form: how many of n unseen messages the queue holds.
func queueLength(n, limit, keep uint64) uint64 {
	if n <= limit {
		return n
	}
	return keep + (n-(limit+1))%(limit+1-keep)
}

// queuedCounts are the queue lengths the task may report.
func (m *refModel) queuedCounts(t *refTask) []uint64 {
	var out []uint64
	for _, last := range t.lastSeqs() {
		for s := t.seenLo; s <= t.seenHi && s <= last; s++ {
			q := queueLength(last-s, uint64(m.cfg.queueLimit), uint64(m.cfg.queueKeep))
			if !slices.Contains(out, q) {
				out = append(out, q)
			}
		}
		if t.maybeRestart != nil && last == t.maybeRestart.old.last {
			old := &t.maybeRestart.old
			for s := old.seenLo; s <= old.seenHi && s <= last; s++ {
				out = append(out, queueLength(last-s, uint64(m.cfg.queueLimit), uint64(m.cfg.queueKeep)))
			}
		}
	}
	if len(out) == 0 {
		out = append(out, 0)
	}
	return out
}

// refModel is the whole model: the tasks, every message ever acknowledged or shown under
// its (epoch, seq), and the viewers.
type refModel struct {
	cfg     modelConfig
	tasks   map[string]*refTask
	ids     []string
	msgs    map[epochSeq]string
	viewers []*refViewer
}

func newRefModel(cfg modelConfig, ids []string) *refModel {
	m := &refModel{cfg: cfg, tasks: map[string]*refTask{}, ids: ids, msgs: map[epochSeq]string{}}
	for _, id := range ids {
		m.tasks[id] = &refTask{id: id}
	}
	return m
}

// record keeps msg as the message of (epoch, seq), failing on another one there: a seq is
// never reused within an epoch.
func (m *refModel) record(epoch string, seq uint64, msg string) error {
	k := epochSeq{epoch, seq}
	if old, ok := m.msgs[k]; ok && old != msg {
		return fmt.Errorf("seq %d of epoch %s reused: %q, earlier %q", seq, epoch, msg, old)
	}
	m.msgs[k] = msg
	return nil
}

// published is what the driver publishes in one all-or-nothing group.
type published struct {
	msgs     []string
	finished bool // the last entry finishes the task
	key      string
}

// ackOutcome checks the answer to a publish of p to t that succeeded, and applies it.
// start and end bound when it was made (unix nanoseconds).
func (m *refModel) acked(t *refTask, p published, ack actors.Ack, start, end int64) error {
	if r := t.maybeRestart; r != nil {
		t.settleRestart(ack.Epoch != r.old.epoch)
	}
	if !t.exists || t.epoch == "" {
		if err := t.learnEpoch(ack.Epoch); err != nil {
			return err
		}
		if ack.FirstSeq != 1 {
			return fmt.Errorf("task %s: the first publish of a new incarnation got seq %d, want 1", t.id, ack.FirstSeq)
		}
		t.exists = true
	}
	if ack.Epoch != t.epoch {
		return fmt.Errorf("task %s: ack of epoch %q, want %q", t.id, ack.Epoch, t.epoch)
	}
	if mp := t.maybe; mp != nil {
		switch ack.FirstSeq {
		case mp.first:
			t.maybe = nil
		case mp.last + 1:
			m.settleMaybe(t, true)
		default:
			return fmt.Errorf("task %s: publish got seq %d after a publish whose answer was lost (seqs %d-%d): want %d or %d",
				t.id, ack.FirstSeq, mp.first, mp.last, mp.first, mp.last+1)
		}
	}
	n := uint64(len(p.msgs))
	if ack.FirstSeq != t.last+1 || ack.LastSeq != t.last+n {
		return fmt.Errorf("task %s: publish of %d got seqs %d-%d, want %d-%d", t.id, n, ack.FirstSeq, ack.LastSeq, t.last+1, t.last+n)
	}
	if ack.Queued != (t.subs == 0) {
		return fmt.Errorf("task %s: ack queued=%v with %d subscribers", t.id, ack.Queued, t.subs)
	}
	for i, msg := range p.msgs {
		if err := m.record(t.epoch, t.last+1+uint64(i), msg); err != nil {
			return err
		}
	}
	t.diskSeen = t.seenLo
	t.last = ack.LastSeq
	if t.subs > 0 {
		t.seenLo, t.seenHi = t.last, t.last
	}
	t.activeLo, t.activeHi = start, end
	if p.finished {
		t.finished = true
		t.finishedLo, t.finishedHi = start, end
	}
	if !p.finished || p.key != "" {
		t.remember(p.key, keyAck{t.epoch, ack.FirstSeq, ack.LastSeq}, m.cfg.historyLimit)
	}
	return nil
}

// settleMaybe decides the ambiguous publish of t: stored (its entries are the task's, but
// never acknowledged, so viewers may miss them) or not.
func (m *refModel) settleMaybe(t *refTask, stored bool) {
	mp := t.maybe
	t.maybe = nil
	if !stored {
		return
	}
	for i, msg := range mp.msgs {
		m.msgs[epochSeq{mp.epoch, mp.first + uint64(i)}] = msg
	}
	t.skippable = append(t.skippable, seqRange{mp.epoch, mp.first, mp.last})
	t.last = mp.last
	if mp.finished && !t.finished {
		t.finishedLo, t.finishedHi = mp.start, mp.end
	}
	t.activeLo = max(t.activeLo, mp.start)
	t.finished = t.finished || mp.finished
	t.remember(mp.key, keyAck{mp.epoch, mp.first, mp.last}, m.cfg.historyLimit)
	// The task that loaded itself again hands its viewers what was stored, and closes
	// them if it finished the task.
	if t.subs > 0 {
		t.seenLo, t.seenHi = t.last, t.last
	}
	if mp.finished {
		for _, v := range m.viewers {
			if v.task == t && v.live {
				v.stop(mp.epoch, mp.last, wire.CloseNormal)
			}
		}
	}
}

// retryAnswer checks the answer to a retry of the keyed publish p (key, same body) and
// applies it: as the first time when the task remembers the key, otherwise a new publish.
func (m *refModel) retryAcked(t *refTask, p published, ack actors.Ack, start, end int64) error {
	if t.exists && t.maybeRestart == nil {
		if first, ok := t.keys[p.key]; ok && !t.keysLoose {
			if ack.Epoch != first.epoch || ack.FirstSeq != first.first || ack.LastSeq != first.last {
				return fmt.Errorf("task %s: retry of key %q answered epoch %s seqs %d-%d, want the first answer: epoch %s seqs %d-%d",
					t.id, p.key, ack.Epoch, ack.FirstSeq, ack.LastSeq, first.epoch, first.first, first.last)
			}
			return nil
		}
		if mp := t.maybe; mp != nil && mp.key == p.key && ack.Epoch == mp.epoch && ack.FirstSeq == mp.first && ack.LastSeq == mp.last {
			// Stored by the lost write or now: either way the task has it once, there.
			m.settleMaybe(t, true)
			for i, msg := range mp.msgs {
				if err := m.record(mp.epoch, mp.first+uint64(i), msg); err != nil {
					return err
				}
			}
			if t.subs > 0 {
				t.seenLo, t.seenHi = t.last, t.last
			}
			t.activeHi = max(t.activeHi, end)
			return nil
		}
		if t.keysLoose && t.keys != nil {
			if first, ok := t.keys[p.key]; ok && ack.Epoch == first.epoch && ack.FirstSeq == first.first && ack.LastSeq == first.last {
				return nil
			}
		}
	}
	return m.acked(t, p, ack, start, end)
}

// remembersKey reports whether a retry of key must be answered as the first time.
func (t *refTask) remembersKey(key string) bool {
	_, ok := t.keys[key]
	return ok && t.exists && t.maybeRestart == nil && t.maybe == nil && !t.keysLoose
}

// checkStatus compares a task's status (nil: not found) with the model; a status just
// after a reload is the journal's word and decides what an ambiguous write left.
func (m *refModel) checkStatus(t *refTask, st *v1.Status) error {
	if t.maybeDeleted {
		t.maybeDeleted = false
		if st == nil {
			t.epochs = appendNew(t.epochs, t.epoch)
			t.end()
			return nil
		}
	}
	if t.reloaded && st != nil && t.exists {
		m.settleByStatus(t, st)
	}
	t.reloaded = false
	if st == nil {
		if t.exists {
			return fmt.Errorf("task %s: status not found, want epoch %s last_seq %v", t.id, t.epoch, t.lastSeqs())
		}
		return nil
	}
	if !t.exists {
		return fmt.Errorf("task %s: status found (epoch %s, last_seq %d), want not found", t.id, st.Epoch, st.LastSeq)
	}
	if t.maybeRestart != nil {
		old := &t.maybeRestart.old
		if st.Epoch == old.epoch {
			if st.LastSeq != old.last || st.Finished != old.finished {
				return fmt.Errorf("task %s: status %s, want the incarnation before the restart: last_seq %d finished %v", t.id, brief(st), old.last, old.finished)
			}
			return nil
		}
		if st.LastSeq != 0 || st.Finished || old.knowsEpoch(st.Epoch) {
			return fmt.Errorf("task %s: status %s after a restart whose answer was lost: want the old incarnation %s or a new one", t.id, brief(st), old.epoch)
		}
		return nil
	}
	if t.epoch == "" {
		if err := t.learnEpoch(st.Epoch); err != nil {
			return err
		}
	}
	if st.Epoch != t.epoch {
		return fmt.Errorf("task %s: status epoch %s, want %s", t.id, st.Epoch, t.epoch)
	}
	if !slices.Contains(t.lastSeqs(), st.LastSeq) {
		return fmt.Errorf("task %s: status last_seq %d, want one of %v", t.id, st.LastSeq, t.lastSeqs())
	}
	finished := t.finished || t.maybe != nil && t.maybe.finished && st.LastSeq == t.maybe.last
	if st.Finished != finished {
		return fmt.Errorf("task %s: status finished %v, want %v", t.id, st.Finished, finished)
	}
	if int(st.Subscribers) != t.subs || st.Connected != (t.subs > 0) {
		return fmt.Errorf("task %s: status %d subscribers (connected %v), want %d", t.id, st.Subscribers, st.Connected, t.subs)
	}
	// Under a size cap a task loaded again holds the queue from what the journal kept:
	// fewer (the rest is a retention gap for the next viewer), never more.
	if q := m.queuedCounts(t); !slices.Contains(q, uint64(st.Queued)) && !(m.cfg.capped && uint64(st.Queued) < slices.Max(q)) {
		return fmt.Errorf("task %s: status queued %d, want one of %v (last_seq %d, seen %d..%d)", t.id, st.Queued, q, st.LastSeq, t.seenLo, t.seenHi)
	}
	return nil
}

// settleByStatus decides the ambiguous writes of a task reloaded from the journal.
func (m *refModel) settleByStatus(t *refTask, st *v1.Status) {
	if r := t.maybeRestart; r != nil {
		if st.Epoch == r.old.epoch {
			t.settleRestart(false)
		} else if st.LastSeq == 0 && !r.old.knowsEpoch(st.Epoch) {
			t.settleRestart(true)
		}
	}
	if mp := t.maybe; mp != nil && st.Epoch == mp.epoch {
		switch st.LastSeq {
		case mp.last:
			m.settleMaybe(t, true)
		case mp.first - 1:
			m.settleMaybe(t, false)
		}
	}
}

func appendNew(list []string, e string) []string {
	if e == "" || slices.Contains(list, e) {
		return list
	}
	return append(list, e)
}

func brief(st *v1.Status) string {
	return fmt.Sprintf("{epoch %s last_seq %d finished %v queued %d subscribers %d}", st.Epoch, st.LastSeq, st.Finished, st.Queued, st.Subscribers)
}

// checkList compares ListTasks with the tasks that exist.
func (m *refModel) checkList(list []*v1.Status) error {
	got := map[string]*v1.Status{}
	for _, st := range list {
		if got[st.TaskId] != nil {
			return fmt.Errorf("ListTasks lists %s twice", st.TaskId)
		}
		got[st.TaskId] = st
	}
	for _, id := range m.ids {
		t, st := m.tasks[id], got[id]
		switch {
		case t.exists && st == nil:
			return fmt.Errorf("ListTasks leaves out %s (epoch %s, last_seq %v)", id, t.epoch, t.lastSeqs())
		case !t.exists && st != nil:
			return fmt.Errorf("ListTasks lists %s (epoch %s, last_seq %d), which does not exist", id, st.Epoch, st.LastSeq)
		case st == nil || t.maybeRestart != nil:
		case st.Epoch != t.epoch || !slices.Contains(t.lastSeqs(), st.LastSeq):
			return fmt.Errorf("ListTasks has %s at epoch %s last_seq %d, want epoch %s last_seq %v", id, st.Epoch, st.LastSeq, t.epoch, t.lastSeqs())
		}
	}
	return nil
}
