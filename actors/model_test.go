package actors_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	"github.com/tasktail/tasktail/internal/pgtest"
	"github.com/tasktail/tasktail/journal"
	"github.com/tasktail/tasktail/journal/journaltest"
	"github.com/tasktail/tasktail/journal/pebble"
	"github.com/tasktail/tasktail/journal/postgres"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
	"google.golang.org/protobuf/proto"
)

// TestModel runs random sequences of operations (publishes of every kind, keyed
// publishes and their retries, viewers that come and go, deletes, restarts, retention
// sweeps, writes whose answer is lost or that never arrive, and crashes with a reload)
// against the real Manager over each journal, and checks after every step that what the
// Manager answered and what every viewer received is what the contract allows: the
// reference model in model_ref_test.go and model_viewer_test.go.
//
// The small budget runs modelSequences sequences of modelSteps steps per journal. Longer:
// TASKTAIL_MODEL_DURATION=5m runs sequences for that long per journal (make soak). A
// failure prints its seed; TASKTAIL_MODEL_SEED=<seed> replays that sequence (timing aside).
func TestModel(t *testing.T) {
	for _, kind := range []string{"memory", "pebble", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			seeds, until := modelBudget(t)
			start := time.Now()
			n := 0
			for i := 0; ; i++ {
				var seed uint64
				switch {
				case i < len(seeds):
					seed = seeds[i]
				case until.IsZero() || time.Now().After(until):
					t.Logf("%d sequences in %v", n, time.Since(start).Round(time.Millisecond))
					return
				default:
					seed = rand.Uint64()
				}
				runModel(t, kind, seed)
				n++
				if t.Failed() {
					return
				}
			}
		})
	}
}

const (
	modelSequences = 4
	modelSteps     = 70
)

// modelBudget returns the seeds to run first and, with TASKTAIL_MODEL_DURATION, until
// when to go on with random ones.
func modelBudget(t *testing.T) (seeds []uint64, until time.Time) {
	if s := os.Getenv("TASKTAIL_MODEL_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TASKTAIL_MODEL_SEED: %v", err)
		}
		return []uint64{seed}, time.Time{}
	}
	if d := os.Getenv("TASKTAIL_MODEL_DURATION"); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil {
			t.Fatalf("TASKTAIL_MODEL_DURATION: %v", err)
		}
		return nil, time.Now().Add(dur)
	}
	for range modelSequences {
		seeds = append(seeds, rand.Uint64())
	}
	return seeds, time.Time{}
}

// modelRun is one sequence: its Manager, journal and model.
type modelRun struct {
	t     *testing.T
	kind  string
	seed  uint64
	rng   *rand.Rand
	cfg   modelConfig
	acfg  actors.Config
	model *refModel
	ids   []string

	m     *actors.Manager
	crash *journaltest.Crash
	dir   string // pebble
	url   string // postgres
	epoch time.Time

	log     []string
	msgs    int
	viewers int
	keyed   []keyedPublish
}

// keyedPublish is a keyed publish made, for a retry.
type keyedPublish struct {
	task string
	p    published
	in   []*v1.LogInput // the body, sent again as it was
}

const modelWait = 5 * time.Second

func runModel(t *testing.T, kind string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	r := &modelRun{t: t, kind: kind, seed: seed, rng: rng, ids: []string{"job-a", "job-b", "job-c", "job-d"}}
	r.cfg = modelConfig{journal: kind, queueLimit: 8 + rng.IntN(8), historyLimit: 20}
	r.cfg.queueKeep = 2 + rng.IntN(r.cfg.queueLimit-2)
	r.cfg.capped = kind != "memory" && rng.IntN(2) == 0
	r.acfg = actors.Config{QueueLimit: r.cfg.queueLimit, QueueKeep: r.cfg.queueKeep, HistoryLimit: r.cfg.historyLimit}
	r.model = newRefModel(r.cfg, r.ids)
	switch kind {
	case "pebble":
		r.dir = t.TempDir()
	case "postgres":
		r.url = pgtest.ForTest(t)
	}
	r.open()
	defer r.shutdown()
	r.note("start: %+v", r.cfg)
	r.check()
	steps := modelSteps
	if os.Getenv("TASKTAIL_MODEL_DURATION") != "" {
		steps = 200
	}
	for i := 0; i < steps && !t.Failed(); i++ {
		r.step()
		r.check()
	}
}

// fatalf fails the sequence with its seed and the steps that led there.
func (r *modelRun) fatalf(format string, args ...any) {
	r.t.Helper()
	steps := r.log
	if len(steps) > 60 {
		steps = steps[len(steps)-60:]
	}
	for _, a := range args {
		if err, ok := a.(error); ok && errors.Is(err, actors.ErrTimeout) {
			// A task that did not answer: keep every goroutine's stack for the post-mortem.
			if f, err := os.CreateTemp("", "tasktail-model-timeout-*.txt"); err == nil {
				pprof.Lookup("goroutine").WriteTo(f, 2)
				f.Close()
				r.t.Logf("goroutines at the timeout: %s", f.Name())
			}
		}
	}
	r.t.Fatalf("%s\n\nseed %d: replay with TASKTAIL_MODEL_SEED=%d go test -count=1 -run 'TestModel/%s$' ./actors/\nlast steps:\n  %s",
		fmt.Sprintf(format, args...), r.seed, r.seed, r.kind, strings.Join(steps, "\n  "))
}

func (r *modelRun) note(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf("%d: ", len(r.log))+fmt.Sprintf(format, args...))
}

// open opens the journal (again, after a crash) and starts a Manager on it.
func (r *modelRun) open() {
	var opts actors.Options
	var maxBytes int64
	if r.cfg.capped {
		maxBytes = 1500
	}
	var j journal.Journal
	var err error
	switch r.kind {
	case "pebble":
		j, err = pebble.Open(r.dir, pebble.Options{MaxTaskBytes: maxBytes})
	case "postgres":
		j, err = postgres.Open(r.url, postgres.Options{MaxTaskBytes: maxBytes})
	}
	if err != nil {
		r.fatalf("open journal: %v", err)
	}
	if j != nil {
		r.crash = journaltest.NewCrash(j)
		opts.Journal = r.crash
	}
	if r.m, err = actors.NewManager(r.acfg, opts); err != nil {
		r.fatalf("manager: %v", err)
	}
}

// shutdown stops the Manager; its viewers close with 1001.
func (r *modelRun) shutdown() {
	if r.m == nil {
		return
	}
	for _, v := range r.model.viewers {
		v.stop(v.epoch, v.pos, wire.CloseGoingAway)
	}
	ctx, cancel := context.WithTimeout(context.Background(), modelWait)
	defer cancel()
	err := r.m.Shutdown(ctx)
	r.m = nil
	if err != nil {
		r.fatalf("shutdown: %v", err)
	}
}

func (r *modelRun) task() *refTask { return r.model.tasks[r.ids[r.rng.IntN(len(r.ids))]] }

func (r *modelRun) journaled() bool { return r.kind != "memory" }

// step runs one random operation.
func (r *modelRun) step() {
	ops := []struct {
		weight int
		run    func()
	}{
		{14, func() { r.publish(r.task(), "one") }},
		{8, func() { r.publish(r.task(), "batch") }},
		{5, func() { r.publish(r.task(), "stream") }},
		{6, func() { r.publish(r.task(), "keyed") }},
		{6, r.retry},
		{11, r.subscribe},
		{5, r.unsubscribe},
		{3, r.delete},
		{4, r.restart},
		{2, r.sweep},
		{4, r.crashAndReload},
		{6, r.fault},
	}
	total := 0
	for _, op := range ops {
		total += op.weight
	}
	n := r.rng.IntN(total)
	for _, op := range ops {
		if n -= op.weight; n < 0 {
			op.run()
			return
		}
	}
}

// entries makes n new entries, the last one finishing the task when finish.
func (r *modelRun) entries(t *refTask, n int, finish bool) ([]*v1.LogInput, published) {
	var in []*v1.LogInput
	var p published
	for i := range n {
		r.msgs++
		msg := fmt.Sprintf("%s #%d %s", t.id, r.msgs, strings.Repeat("x", r.rng.IntN(120)))
		e := &v1.LogInput{Level: v1.Level_LEVEL_INFO, Message: msg, Progress: proto.Float64(float64(r.msgs % 100))}
		if finish && i == n-1 {
			e.Level, e.Finished = v1.Level_LEVEL_SUCCESS, true
			if r.rng.IntN(3) == 0 {
				e.Level = v1.Level_LEVEL_ERROR
			}
		}
		in = append(in, e)
		p.msgs = append(p.msgs, msg)
	}
	p.finished = finish
	return in, p
}

func now() int64 { return time.Now().UnixNano() }

// publish publishes to t in one of the ways a producer can.
func (r *modelRun) publish(t *refTask, how string) {
	n := 1
	switch how {
	case "batch", "keyed":
		n = 1 + r.rng.IntN(6)
	case "stream":
		n = 2 + r.rng.IntN(12)
	}
	in, p := r.entries(t, n, r.rng.IntN(16) == 0)
	if how == "keyed" {
		r.msgs++
		p.key = fmt.Sprintf("key-%d", r.msgs)
		r.keyed = append(r.keyed, keyedPublish{t.id, p, in})
	}
	r.note("publish %s to %s: %d entries%s", how, t.id, n, finishNote(p))
	start := now()
	ack, err := r.send(t.id, how, in, p)
	r.published(t, p, ack, err, start, now(), false)
}

func finishNote(p published) string {
	s := ""
	if p.key != "" {
		s += " key " + p.key
	}
	if p.finished {
		s += ", the last finishing the task"
	}
	return s
}

// send publishes in through the Manager's API for how.
func (r *modelRun) send(taskID, how string, in []*v1.LogInput, p published) (actors.Ack, error) {
	ctx := context.Background()
	switch how {
	case "one":
		e := in[0]
		return r.m.SendLog(ctx, taskID, e.Level, e.Message, e.GetProgress(), e.Finished)
	case "stream":
		pr, err := r.m.Producer(taskID)
		if err != nil {
			return actors.Ack{}, err
		}
		for _, e := range in {
			if err := pr.SendLog(ctx, e.Level, e.Message, e.GetProgress(), e.Finished); err != nil {
				pr.Close(ctx)
				return actors.Ack{}, err
			}
		}
		ack, err := pr.Close(ctx)
		// The answer is the last message's: the stream had seqs up to it.
		ack.FirstSeq = ack.LastSeq - uint64(len(in)) + 1
		return ack, err
	}
	return r.m.PublishOnce(ctx, taskID, p.key, in)
}

// published checks the answer to a publish that no fault hit.
func (r *modelRun) published(t *refTask, p published, ack actors.Ack, err error, start, end int64, retry bool) {
	if r.journaled() {
		t.inMemory = true
	}
	if errors.Is(err, actors.ErrTaskFinished) {
		// A refusal stores nothing: it does not decide an ambiguous write (the task's
		// memory may differ from its journal until it loads again).
		finished := t.finished || t.maybe != nil && t.maybe.finished || t.maybeRestart != nil && t.maybeRestart.old.finished
		if !t.exists || !finished {
			r.fatalf("publish to %s: %v, but the task has not finished", t.id, err)
		}
		if retry && t.remembersKey(p.key) {
			r.fatalf("retry of key %s to %s: %v, want the first answer %+v", p.key, t.id, err, t.keys[p.key])
		}
		return
	}
	if err != nil {
		r.fatalf("publish to %s: %v", t.id, err)
	}
	if t.exists && t.finished && t.maybeRestart == nil && !(retry && t.keys[p.key] != (keyAck{})) {
		r.fatalf("publish to %s, which had finished, was accepted: %+v", t.id, ack)
	}
	var merr error
	if retry {
		merr = r.model.retryAcked(t, p, ack, start, end)
	} else {
		merr = r.model.acked(t, p, ack, start, end)
	}
	if merr != nil {
		r.fatalf("%v (ack %+v)", merr, ack)
	}
	if t.finished {
		for _, v := range r.model.viewers {
			if v.task == t && v.live {
				v.stop(t.epoch, t.last, wire.CloseNormal)
			}
		}
	}
}

// retry publishes an earlier keyed publish again, with its key and body.
func (r *modelRun) retry() {
	if len(r.keyed) == 0 {
		r.publish(r.task(), "keyed")
		return
	}
	k := r.keyed[r.rng.IntN(len(r.keyed))]
	t := r.model.tasks[k.task]
	r.note("retry key %s to %s (%d entries)", k.p.key, t.id, len(k.p.msgs))
	start := now()
	ack, err := r.m.PublishOnce(context.Background(), t.id, k.p.key, k.in)
	r.published(t, k.p, ack, err, start, now(), true)
}

// subscribe attaches a viewer, with or without resume.
func (r *modelRun) subscribe() {
	t := r.task()
	var from actors.Resume
	if r.rng.IntN(2) == 0 {
		from.Replay = true
		from.Since = uint64(r.rng.IntN(int(t.last) + 3))
		switch n := r.rng.IntN(4); {
		case n < 2 && t.epoch != "":
			from.Epoch = t.epoch
		case n == 2 && len(t.epochs) > 0:
			from.Epoch = t.epochs[r.rng.IntN(len(t.epochs))]
		}
	}
	r.viewers++
	name := fmt.Sprintf("v%d", r.viewers)
	r.note("subscribe %s to %s %+v", name, t.id, from)
	a, err := r.m.Attach(context.Background(), t.id, from)
	if err != nil {
		r.fatalf("attach %s to %s: %v", name, t.id, err)
	}
	v := &refViewer{name: name, task: t, sock: actortest.NewFakeSocket(), att: a, resume: from, seenLo: t.seenLo, seenHi: t.seenHi}
	if err := a.Start(context.Background(), v.sock, nil); err != nil {
		r.fatalf("start %s: %v", name, err)
	}
	r.model.viewers = append(r.model.viewers, v)
	if r.journaled() {
		t.inMemory = true
	}
	t.activeHi = max(t.activeHi, now())
	lasts := t.lastSeqs()
	t.seenLo, t.seenHi = slices.Min(lasts), slices.Max(lasts) // the queue was handed over
	if t.exists && t.finished && !t.uncertain() {
		v.closeWant, v.endEpoch, v.endPos = []wire.CloseCode{wire.CloseNormal}, t.epoch, t.last
		return
	}
	v.live = true
	t.subs++
}

// unsubscribe closes a viewer, and waits until its task has let it go.
func (r *modelRun) unsubscribe() {
	var live []*refViewer
	for _, v := range r.model.viewers {
		if v.live {
			live = append(live, v)
		}
	}
	if len(live) == 0 {
		r.subscribe()
		return
	}
	v := live[r.rng.IntN(len(live))]
	t := v.task
	r.note("unsubscribe %s from %s", v.name, t.id)
	v.att.Close(wire.CloseNormal, "viewer left")
	v.stop(v.epoch, v.pos, wire.CloseNormal)
	// The task counts the unsubscribe as activity when it handles it: after this call,
	// which waits for that.
	defer func() { t.activeHi = max(t.activeHi, now()) }()
	if !t.exists && t.subs == 0 {
		t.epoch = "" // the waiting actor goes with its last viewer, and its epoch
	}
	deadline := time.Now().Add(modelWait)
	for {
		st, err := r.m.Status(context.Background(), t.id)
		if errors.Is(err, actors.ErrNotFound) {
			connected, cerr := r.m.ConnectionStatus(context.Background(), t.id)
			if cerr == nil && connected == (t.subs > 0) {
				return
			}
		} else if err != nil {
			r.fatalf("status of %s: %v", t.id, err)
		} else if int(st.Subscribers) == t.subs {
			return
		}
		if time.Now().After(deadline) {
			r.fatalf("%s still counts the viewer that left: %d subscribers, want %d", t.id, st.GetSubscribers(), t.subs)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// delete deletes a task (rule 2).
func (r *modelRun) delete() {
	t := r.task()
	r.note("delete %s", t.id)
	err := r.m.Disconnect(context.Background(), t.id)
	if err != nil {
		r.fatalf("delete %s: %v", t.id, err)
	}
	r.deleted(t)
}

func (r *modelRun) deleted(t *refTask) {
	for _, v := range r.model.viewers {
		if v.task == t && v.closeWant == nil {
			v.stop(v.epoch, v.pos, wire.CloseNormal)
		}
	}
	if t.maybeRestart != nil {
		t.epochs = appendNew(t.epochs, t.maybeRestart.old.epoch)
	}
	t.epochs = appendNew(t.epochs, t.epoch)
	t.end()
	t.inMemory = false
}

// restart starts a new incarnation of a task.
func (r *modelRun) restart() {
	t := r.task()
	r.note("restart %s", t.id)
	start := now()
	epoch, err := r.m.Restart(context.Background(), t.id)
	r.restarted(t, epoch, err, start)
}

func (r *modelRun) restarted(t *refTask, epoch string, err error, start int64) {
	if r.journaled() {
		t.inMemory = true
	}
	if errors.Is(err, actors.ErrNotFound) {
		if t.exists {
			r.fatalf("restart %s: %v, want a new incarnation", t.id, err)
		}
		return
	}
	if err != nil {
		r.fatalf("restart %s: %v", t.id, err)
	}
	if !t.exists {
		r.fatalf("restart %s answered epoch %s, want not found", t.id, epoch)
	}
	if t.maybeRestart != nil {
		t.epochs = appendNew(t.epochs, t.maybeRestart.old.epoch)
		t.maybeRestart = nil
	}
	if err := t.restarted(epoch, start, now()); err != nil {
		r.fatalf("restart: %v", err)
	}
}

// retention is the Manager's retention (both kinds), which sweeps count back from.
var retention = actors.DefaultConfig().IdleRetention

// sweep runs one retention sweep while every task is in memory: it must remove none.
func (r *modelRun) sweep() {
	cutoff := now()
	for _, t := range r.model.tasks {
		if t.exists {
			cutoff = min(cutoff, t.activeLo, t.finishedLoOr(cutoff))
			if t.maybeRestart != nil {
				cutoff = min(cutoff, t.maybeRestart.old.activeLo)
			}
		}
	}
	r.note("sweep at %s (tasks active before it expire)", time.Unix(0, cutoff).Format(time.StampMicro))
	if _, err := r.m.SweepAt(time.Unix(0, cutoff).Add(retention)); err != nil {
		r.fatalf("sweep: %v", err)
	}
}

// finishedLoOr is the earliest the journal's finish time of t may be, or or.
func (t *refTask) finishedLoOr(or int64) int64 {
	if t.finished {
		return t.finishedLo
	}
	return or
}

// expiry is the time retention counts from for t, as a range.
func (t *refTask) expiry() (lo, hi int64) {
	if t.finished {
		return t.finishedLo, t.finishedHi
	}
	return t.activeLo, t.activeHi
}
