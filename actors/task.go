package actors

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/taskstate"
	"github.com/tasktail/tasktail/wire"
)

// TaskActor owns all state of one task_id: its subscribers, queue, history, sequence
// numbers, epoch, progress and finished flag. It does no I/O: frames go to subscribers as
// Deliver messages. The same Receive serves the local registry and the cluster.
type TaskActor struct {
	taskID string
	cfg    *Config
	stats  *Stats
	store  *store       // the journal; nil keeps the task in memory only
	j      *taskJournal // the task's side of the journal, when there is one
	// passivate asks whoever routes to this actor to stop it. routed counts the routed
	// messages (ops.go) handled so far, so the router can tell whether any are still on
	// their way.
	passivate func(ctx actor.Context, routed uint64)
	// found, when set, tells the router that the journal had the task: it takes a task
	// slot from then on. (A publish creates a task on its way through the router, which
	// counts it then.)
	found func(ctx actor.Context)
	// created: a publish made the task exist, or the journal had it. Until then the actor
	// only holds viewers waiting for the first publish (ops.go, waits): it answers
	// everything else as for a task that does not exist and stops with its last viewer.
	created bool
	// member is the cluster address the task lives on, for its status; empty on one node.
	member string

	// s is the task's state, changed only by s.Apply (package taskstate); history holds
	// the encoded frames of its newest messages.
	s          taskstate.State
	history    history
	subs       []*actor.PID
	lost       map[string]int // subscribers told to go after their address ended, by tries (watchEnded)
	routed     uint64
	lastActive time.Duration // since processStart: monotonic, in 8 bytes where a time.Time takes 24
	// swept is set when the router sends the task passivateCheck now and then (the local
	// Registry); the task then keeps no timer and closure of its own (~150 bytes).
	swept bool
	timer *time.Timer
	// index is the process's list index (nil: the task is not listed), and listGen this
	// incarnation's number in it; 0 once the task has left it (relist).
	index   *listIndex
	listGen uint64
}

// processStart is what TaskActor.lastActive counts from.
var processStart = time.Now()

// NewTaskActor returns the actor of one task, for a router to spawn: the local Registry,
// a cluster kind, or a test. It passivates by stopping itself after its TTL, which is
// right wherever a stopped actor's PID is not cached by whoever routes to it (the local
// Registry sets its own handshake instead).
func NewTaskActor(taskID string, cfg *Config, stats *Stats) *TaskActor {
	return &TaskActor{taskID: taskID, cfg: cfg, stats: stats, passivate: stopSelf}
}

func stopSelf(ctx actor.Context, _ uint64) { ctx.Poison(ctx.Self()) }

// passivateCheck asks a task whether it is idle (the Registry's sweep, or the task's own
// timer).
type passivateCheck struct{}

// taskName names a task actor spawned as a child, "<task_id>#<generation>", so that one
// Props serves every task: the actor reads its task_id back from its name (taskIDOfName).
// task_ids contain neither '/' nor '#', and a new generation never collides with an
// incarnation still stopping.
func taskName(taskID string, generation uint64) string {
	return taskID + "#" + strconv.FormatUint(generation, 36)
}

// taskIDOfName returns the task_id of an actor spawned under a taskName.
func taskIDOfName(pid *actor.PID) (string, bool) {
	id := pid.Id
	slash, hash := strings.LastIndexByte(id, '/'), strings.LastIndexByte(id, '#')
	if hash <= slash {
		return "", false
	}
	return id[slash+1 : hash], true
}

// newEpoch is a new incarnation's epoch.
var newEpoch = journal.NewEpoch

// Receive handles one message.
func (t *TaskActor) Receive(ctx actor.Context) {
	msg := ctx.Message()
	switch m := msg.(type) {
	case *loaded:
		t.onLoaded(ctx, m)
	case *committed:
		t.onCommitted(ctx, m)
	case *backfilled:
		t.onBackfilled(ctx, m)
	case *actor.Terminated:
		t.watchEnded(ctx, m)
	case tellLost:
		t.tellLostSubscriber(ctx, m.pid)
	case passivateCheck:
		t.checkIdle(ctx)
	case *actor.Started:
		if t.taskID == "" {
			t.taskID, _ = taskIDOfName(ctx.Self()) // spawned under a taskName
		}
		t.lastActive = time.Since(processStart)
		if t.index != nil {
			t.listGen = listGens.Add(1)
		}
		t.stats.WaitingTasks.Add(1)
		t.armTimer(ctx, t.cfg.IdleTTL)
		if t.store == nil {
			t.s.Epoch = newEpoch()
		} else {
			t.j = &taskJournal{loading: true} // messages wait for the load
			if t.taskID != "" {
				t.load(ctx) // a grain knows its task_id only from its activation (identify), and loads then
			}
		}
	case *actor.Stopping:
		// Stopped by its failure budget, by a shutdown, or moved off a cluster member that
		// leaves: the viewers resume wherever it starts next. (Delete and passivation leave
		// no subscriber behind.)
		t.sendAll(ctx, &v1.Deliver{CloseCode: uint32(wire.CloseGoingAway), CloseReason: "task restarting"})
		t.dropSubscribers(ctx)
		t.writeMeta(ctx)
		t.unlist()
		// A write in flight may yet be stored (the Writer carries out what was submitted):
		// its caller is told the outcome is unknown, so that it retries with its key.
		t.answerWaiting(ctx, &v1.Refused{TaskId: t.taskID, Reason: v1.RefusedReason_REFUSED_REASON_OUTCOME_UNKNOWN},
			&v1.TaskFailure{TaskId: t.taskID, Reason: "the task stopped; retry"})
	case *actor.Stopped:
		if t.timer != nil {
			t.timer.Stop()
		}
		if t.created {
			t.stats.LiveTasks.Add(-1)
		} else {
			t.stats.WaitingTasks.Add(-1)
		}
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		if _, _, ok := routeOf(msg); ok {
			t.routed++
		}
		t.handle(ctx, msg, ctx.Sender())
	}
	t.relist()
}

// handle handles a routed message or an Unsubscribe from sender: now, or once the journal
// is ready for it.
func (t *TaskActor) handle(ctx actor.Context, msg any, sender *actor.PID) {
	if t.j != nil {
		if t.j.failed {
			t.load(ctx)
		}
		if t.waits(msg) {
			if rt, _, ok := routeOf(msg); ok && !rt.ends && len(t.j.stash) >= maxStash {
				// The journal is slow to answer (a load, a write): what waits is bounded.
				answer(func(r any) { respond(ctx, sender, r) }, msg, t.journalUnavailable())
				return
			}
			t.j.stash = append(t.j.stash, stashed{msg: msg, sender: sender})
			return
		}
	}
	if rt, _, ok := routeOf(msg); ok && !t.created && t.answeredAsAbsent(ctx, rt, msg, sender) {
		return
	}
	if o := operationOf(msg); o != nil {
		o.handle(t, ctx, msg, sender)
		return
	}
	// A message nobody handles is answered at once, never left to time out.
	respond(ctx, sender, notRoutedFailure(msg))
}

// The handlers of the operations table (ops.go) that fit in a few lines; the others sit
// with their concern (task_publish.go, task_subscribe.go, task_journal.go).

// publishRemote handles a publish call that crossed members as a *v1.Publish.
func (t *TaskActor) publishRemote(ctx actor.Context, m *v1.Publish, sender *actor.PID) {
	t.publishCall(ctx, callOf(m, func(c *PublishCall) { respond(ctx, sender, ackOf(c)) }), sender)
}

func (t *TaskActor) unsubscribe(ctx actor.Context, m *v1.Unsubscribe, _ *actor.PID) {
	sub := pidOf(m.Subscriber)
	ctx.Unwatch(sub)
	t.removeSubscriber(ctx, sub)
	t.forgetLost(sub)
}

func (t *TaskActor) getStatus(ctx actor.Context, _ *v1.GetStatus, sender *actor.PID) {
	respond(ctx, sender, t.status())
}

// status is the task's status, as GetStatus and the task list answer it.
func (t *TaskActor) status() *v1.Status {
	return &v1.Status{
		TaskId: t.taskID, Found: true, Epoch: t.s.Epoch,
		Connected: len(t.subs) > 0, Subscribers: uint32(len(t.subs)), Queued: t.queued(),
		LastSeq: t.s.LastSeq, Progress: t.s.Progress, Finished: t.s.Finished, Member: t.member,
		Failed: t.s.Failed, LastActiveUnixNano: processStart.Add(t.lastActive).UnixNano(),
	}
}

func (t *TaskActor) getLog(ctx actor.Context, _ *v1.GetLog, sender *actor.PID) {
	frames := t.history.appendRange(nil, t.history.oldest(t.s.LastSeq), t.s.LastSeq)
	respond(ctx, sender, &v1.LogFrames{TaskId: t.taskID, Found: true, Frames: frames})
}

func (t *TaskActor) delete(ctx actor.Context, _ *v1.Delete, sender *actor.PID) {
	if t.store != nil {
		t.deleteDurably(ctx, sender)
	} else {
		t.deleteNow(ctx, sender)
	}
}

func (t *TaskActor) restart(ctx actor.Context, _ *v1.Restart, sender *actor.PID) {
	if t.store != nil {
		t.restartDurably(ctx, sender)
	} else {
		t.restartTo(ctx, newEpoch())
		respond(ctx, sender, &v1.RestartAck{TaskId: t.taskID, Found: true, Epoch: t.s.Epoch})
	}
}

// answeredAsAbsent handles a routed message to a task nobody has published to: a publish
// creates the task and a subscribe waits in it (false: handle them as usual); anything
// else is answered as for a task that does not exist.
func (t *TaskActor) answeredAsAbsent(ctx actor.Context, rt route, msg any, sender *actor.PID) bool {
	switch {
	case rt.creates:
		t.create()
		return false
	case rt.waits:
		return false
	}
	reply := rt.absent(t.taskID)
	if st, ok := reply.(*v1.Status); ok {
		// Not found; but the original API's connection status counts waiting viewers.
		st.Connected, st.Subscribers = len(t.subs) > 0, uint32(len(t.subs))
	}
	if rt.ends {
		// The router has forgotten this actor already; its viewers end as a delete ends
		// them (the original disconnect closes the sockets of a task never published to).
		t.sendAll(ctx, &v1.Deliver{CloseCode: uint32(wire.CloseNormal), CloseReason: "task deleted"})
		t.dropSubscribers(ctx)
		ctx.Stop(ctx.Self())
	}
	answer(func(r any) { respond(ctx, sender, r) }, msg, reply)
	if !rt.ends && len(t.subs) == 0 {
		t.passivate(ctx, t.routed)
	}
	return true
}

// create makes the task exist: it counts as a live task from now on.
func (t *TaskActor) create() {
	if t.created {
		return
	}
	t.created = true
	t.stats.WaitingTasks.Add(-1)
	t.stats.LiveTasks.Add(1)
}

// publishCall publishes a call: stored first when there is a journal.
func (t *TaskActor) publishCall(ctx actor.Context, c *PublishCall, _ *actor.PID) {
	p := t.plan(c, time.Now())
	if t.store != nil && len(p.Entries) > 0 {
		t.publishDurably(ctx, c, p)
		return
	}
	t.applyPlan(ctx, c, p)
}

// deleteNow closes the task's sockets and drops all of its state (docs/design.md, rule
// 2). The router no longer routes to this actor, so nothing is lost by stopping at once.
func (t *TaskActor) deleteNow(ctx actor.Context, sender *actor.PID) {
	t.sendAll(ctx, &v1.Deliver{CloseCode: uint32(wire.CloseNormal), CloseReason: "task deleted"})
	t.dropSubscribers(ctx)
	t.unlist()
	respond(ctx, sender, &v1.DeleteAck{TaskId: t.taskID, Found: true})
	ctx.Stop(ctx.Self())
}

// restartTo starts a new incarnation with epoch: seq from 1, no history, queue, progress
// or finished state. Subscribers stay; they are told with a gap for the rest of the old
// incarnation and the new hello, so clients number from 1 again.
func (t *TaskActor) restartTo(ctx actor.Context, epoch string) {
	from := t.s.LastSeq + 1
	t.s.Apply(taskstate.Restarted{Epoch: epoch}, t.cfg.rules())
	t.history = history{}
	t.lastActive = time.Since(processStart)
	t.sendAll(ctx, &v1.Deliver{Frames: [][]byte{
		wire.GapFrame(&v1.Gap{TaskId: t.taskID, FromSeq: from, Reason: v1.GapReason_GAP_REASON_EPOCH}),
		wire.HelloFrame(&v1.Hello{TaskId: t.taskID, Epoch: t.s.Epoch}),
	}})
	t.armTimer(ctx, t.cfg.IdleTTL)
	t.relist() // before the answer: a list right after it shows the new epoch
}

func (t *TaskActor) sendAll(ctx actor.Context, d *v1.Deliver) {
	for _, s := range t.subs {
		ctx.Send(s, d)
	}
}

func (t *TaskActor) dropSubscribers(ctx actor.Context) {
	for _, s := range t.subs {
		ctx.Unwatch(s)
	}
	t.subs = nil
}

func (t *TaskActor) subscribed(pid *actor.PID) bool {
	for _, s := range t.subs {
		if s.Equal(pid) {
			return true
		}
	}
	return false
}

func (t *TaskActor) removeSubscriber(ctx actor.Context, pid *actor.PID) {
	for i, s := range t.subs {
		if s.Equal(pid) {
			// slices.Delete clears the vacated slot: a stale PID there would keep the
			// stopped socket actor reachable through its cached process pointer.
			t.subs = slices.Delete(t.subs, i, i+1)
			t.lastActive = time.Since(processStart)
			t.markSeen()
			if len(t.subs) == 0 && !t.created {
				t.passivate(ctx, t.routed) // the last waiting viewer left
			}
			return
		}
	}
}

// respond answers sender, if there is one.
func respond(ctx actor.Context, sender *actor.PID, reply any) {
	if sender != nil {
		ctx.Send(sender, reply)
	}
}
