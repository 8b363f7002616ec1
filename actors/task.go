package actors

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// Close codes the contract uses.
const (
	CloseNormal        CloseCode = 1000 // task finished or deleted
	CloseGoingAway     CloseCode = 1001 // server shutting down or task restarting: resume with since
	ClosePolicy        CloseCode = 1008 // authentication
	CloseInternal      CloseCode = 1011 // a write failed
	CloseTryAgainLater CloseCode = 1013 // slow consumer: resume with since
)

// CloseCode is a WebSocket close status code.
type CloseCode uint16

// TaskActor owns all state of one task_id: its subscribers, queue, history, sequence
// numbers, epoch, progress and finished flag. It does no I/O: frames go to subscribers as
// Deliver messages. The same Receive serves the local registry and the cluster.
type TaskActor struct {
	taskID string
	cfg    *Config
	stats  *Stats
	// passivate asks whoever routes to this actor to stop it. routed counts the routed
	// messages (Publish, Subscribe, GetStatus, Delete) handled so far, so the router can
	// tell whether any are still on their way.
	passivate func(ctx actor.Context, routed uint64)
	// member is the cluster address the task lives on, for its status; empty on one node.
	member string

	epoch      string
	lastSeq    uint64
	history    history
	unseenFrom uint64 // first seq no subscriber has seen; 0 when nothing is queued
	queuedFrom uint64 // first seq still queued after the trim rule (valid when unseenFrom > 0)
	subs       []*actor.PID
	progress   float64
	finished   bool
	routed     uint64
	lastActive time.Duration // since processStart: monotonic, in 8 bytes where a time.Time takes 24
	// swept is set when the router sends the task passivateCheck now and then (the local
	// Registry); the task then keeps no timer and closure of its own (~150 bytes).
	swept bool
	timer *time.Timer
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

// passivateCheck is sent by the task's own timer.
type passivateCheck struct{}

func newEpoch() string { return strconv.FormatUint(rand.Uint64(), 36) }

// Receive handles one message.
func (t *TaskActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *v1.Publish:
		t.routed++
		t.publish(ctx, m)
	case *PublishCall:
		t.routed++
		t.publishCall(ctx, m)
	case *v1.Subscribe:
		t.routed++
		t.subscribe(ctx, m)
	case *v1.GetStatus:
		t.routed++
		ctx.Respond(t.status())
	case *v1.Delete:
		t.routed++
		t.delete(ctx)
	case *v1.Unsubscribe:
		ctx.Unwatch(m.Subscriber)
		t.removeSubscriber(m.Subscriber)
	case *actor.Terminated:
		t.removeSubscriber(m.Who)
	case passivateCheck:
		t.checkIdle(ctx)
	case *actor.Started:
		if t.taskID == "" {
			t.taskID, _ = taskIDOfChild(ctx.Self()) // spawned by the Registry, named after its task
		}
		t.epoch = newEpoch()
		t.lastActive = time.Since(processStart)
		t.stats.LiveTasks.Add(1)
		t.armTimer(ctx, t.cfg.IdleTTL)
	case *actor.Stopping:
		// Stopped by its failure budget, or moved off a cluster member that leaves: the
		// viewers resume wherever it starts next. (Delete and passivation leave no
		// subscriber behind.)
		t.sendAll(ctx, &v1.Deliver{CloseCode: uint32(CloseGoingAway), CloseReason: "task restarting"})
		t.dropSubscribers(ctx)
	case *actor.Stopped:
		if t.timer != nil {
			t.timer.Stop()
		}
		t.stats.LiveTasks.Add(-1)
	}
}

// logLike is one entry to publish: a *v1.LogInput from a Publish, or a logEntry of a
// PublishCall.
type logLike interface {
	GetLevel() v1.Level
	GetMessage() string
	GetProgress() float64
	GetFinished() bool
}

// partAck is the outcome of one all-or-nothing group of entries.
type partAck struct {
	first, last uint64
	queued      bool
	finished    bool // refused: the task had finished before this group
}

func (t *TaskActor) publish(ctx actor.Context, m *v1.Publish) {
	wasFinished := t.finished
	var live [][]byte
	if len(t.subs) > 0 {
		live = make([][]byte, 0, len(m.Entries))
	}
	var buf [40]byte
	ack, live := appendEntries(t, m.Entries, live, newStamp(time.Now(), buf[:0]))
	t.deliverLive(ctx, live, wasFinished)
	reply := &v1.PublishAck{TaskId: t.taskID, FirstSeq: ack.first, LastSeq: ack.last, Queued: ack.queued, Epoch: t.epoch}
	if ack.finished {
		reply.Status = v1.PublishStatus_PUBLISH_STATUS_FINISHED
	}
	ctx.Respond(reply)
}

// publishCall appends the groups of a call in order, as if each were its own Publish, and
// delivers all they make live in one Deliver.
func (t *TaskActor) publishCall(ctx actor.Context, c *PublishCall) {
	wasFinished := t.finished
	var live [][]byte
	if len(t.subs) > 0 {
		live = make([][]byte, 0, len(c.entries))
	}
	var buf [40]byte
	now := newStamp(time.Now(), buf[:0])
	from := 0
	for i, end := range c.ends {
		c.acks[i], live = appendEntries(t, c.entries[from:end], live, now)
		from = end
	}
	t.deliverLive(ctx, live, wasFinished)
	c.complete(t.epoch, nil)
}

// stamp is the time of the entries of one message, with its timestamp formatted once.
type stamp struct {
	at   time.Time
	text []byte
}

// newStamp formats at into buf.
func newStamp(at time.Time, buf []byte) stamp {
	return stamp{at: at, text: appendTimestamp(buf, at.UnixNano())}
}

// appendEntries stores one all-or-nothing group of entries, appends the frames to deliver
// now (there are subscribers) to live, and applies the queue rules otherwise.
func appendEntries[E logLike](t *TaskActor, entries []E, live [][]byte, now stamp) (partAck, [][]byte) {
	if t.finished {
		return partAck{last: t.lastSeq, finished: true}, live
	}
	t.lastActive = now.at.Sub(processStart)
	ack := partAck{first: t.lastSeq + 1, queued: len(t.subs) == 0}
	t.history.reserve(len(entries), t.cfg.HistoryLimit)
	for _, in := range entries {
		t.lastSeq++
		frame := encodeLogFrame(&v1.LogEntry{
			TaskId: t.taskID, Seq: t.lastSeq, TimeUnixNano: now.at.UnixNano(),
			Level: in.GetLevel(), Message: in.GetMessage(), Progress: in.GetProgress(), Finished: in.GetFinished(),
		}, now.text)
		t.history.push(t.lastSeq, frame, t.cfg.HistoryLimit)
		t.progress = in.GetProgress()
		t.finished = t.finished || in.GetFinished()
		if ack.queued {
			t.enqueue()
		} else {
			live = append(live, frame)
		}
	}
	t.stats.Published.Add(uint64(len(entries)))
	if ack.queued {
		t.stats.Queued.Add(uint64(len(entries)))
	}
	ack.last = t.lastSeq
	return ack, live
}

// deliverLive sends the subscribers the frames of one message, and when that message
// finished the task, closes them and starts the finished TTL.
func (t *TaskActor) deliverLive(ctx actor.Context, live [][]byte, wasFinished bool) {
	justFinished := t.finished && !wasFinished
	if len(live) > 0 {
		deliver := &v1.Deliver{Frames: live}
		if justFinished {
			deliver.CloseCode, deliver.CloseReason = uint32(CloseNormal), "task finished"
		}
		t.sendAll(ctx, deliver)
	}
	if justFinished {
		t.dropSubscribers(ctx)
		t.armTimer(ctx, t.cfg.FinishedTTL)
	}
}

// enqueue applies seed rules 3 and 4 to the message just appended at lastSeq: it joins the
// queue, and when it would make the queue longer than QueueLimit only the most recent
// QueueKeep stay.
func (t *TaskActor) enqueue() {
	if t.unseenFrom == 0 {
		t.unseenFrom, t.queuedFrom = t.lastSeq, t.lastSeq
	}
	if t.lastSeq-t.queuedFrom+1 > uint64(t.cfg.QueueLimit) {
		keepFrom := t.lastSeq - uint64(t.cfg.QueueKeep) + 1
		t.stats.Trimmed.Add(keepFrom - t.queuedFrom)
		t.queuedFrom = keepFrom
	}
}

func (t *TaskActor) queued() uint32 {
	if t.unseenFrom == 0 {
		return 0
	}
	return uint32(t.lastSeq - t.queuedFrom + 1)
}

func (t *TaskActor) subscribe(ctx actor.Context, m *v1.Subscribe) {
	if len(t.subs) >= t.cfg.MaxViewersPerTask {
		ctx.Respond(&v1.Refused{TaskId: t.taskID, Reason: v1.RefusedReason_REFUSED_REASON_TOO_MANY_VIEWERS})
		return
	}
	if t.subscribed(m.Subscriber) {
		// A retried request (cluster mode) that reached the task twice: the first one
		// already delivered the hello and the replay.
		ctx.Respond(t.subscribeAck(ctx))
		return
	}
	t.lastActive = time.Since(processStart)
	frames := [][]byte{helloFrame(&v1.Hello{TaskId: t.taskID, Epoch: t.epoch, LastSeq: t.lastSeq, Finished: t.finished})}
	if m.Resume {
		frames = t.appendReplay(frames, m.Since, m.Epoch)
	} else {
		frames = t.appendQueue(frames)
	}
	// Whatever was queued has now been handed to a subscriber.
	t.unseenFrom, t.queuedFrom = 0, 0
	deliver := &v1.Deliver{Frames: frames}
	if t.finished {
		deliver.CloseCode, deliver.CloseReason = uint32(CloseNormal), "task finished"
	} else {
		ctx.Watch(m.Subscriber)
		t.subs = append(t.subs, m.Subscriber)
	}
	ctx.Send(m.Subscriber, deliver)
	ctx.Respond(t.subscribeAck(ctx))
}

func (t *TaskActor) subscribeAck(ctx actor.Context) *v1.SubscribeAck {
	return &v1.SubscribeAck{TaskId: t.taskID, Epoch: t.epoch, LastSeq: t.lastSeq, Finished: t.finished, Task: ctx.Self()}
}

// appendQueue appends seed rule 1's flush: a gap for what the trim rule dropped, then the queue.
func (t *TaskActor) appendQueue(frames [][]byte) [][]byte {
	if t.unseenFrom == 0 {
		return frames
	}
	if t.unseenFrom < t.queuedFrom {
		frames = append(frames, gapFrame(&v1.Gap{TaskId: t.taskID, FromSeq: t.unseenFrom, ToSeq: t.queuedFrom - 1, Reason: v1.GapReason_GAP_REASON_TRIMMED}))
	}
	return t.history.appendRange(frames, t.queuedFrom, t.lastSeq)
}

// appendReplay appends every retained message after since. A client that resumes from
// another incarnation (a different epoch, or a since this one never reached) first gets a
// gap for what it missed there, then this incarnation from its start.
func (t *TaskActor) appendReplay(frames [][]byte, since uint64, epoch string) [][]byte {
	if (epoch != "" && epoch != t.epoch) || since > t.lastSeq {
		frames = append(frames, gapFrame(&v1.Gap{TaskId: t.taskID, FromSeq: since + 1, Reason: v1.GapReason_GAP_REASON_EPOCH}))
		since = 0
	}
	from := since + 1
	if oldest := t.history.oldest(t.lastSeq); from < oldest {
		frames = append(frames, gapFrame(&v1.Gap{TaskId: t.taskID, FromSeq: from, ToSeq: oldest - 1, Reason: v1.GapReason_GAP_REASON_HISTORY}))
		from = oldest
	}
	return t.history.appendRange(frames, from, t.lastSeq)
}

func (t *TaskActor) status() *v1.Status {
	return &v1.Status{
		TaskId: t.taskID, Found: true, Epoch: t.epoch,
		Connected: len(t.subs) > 0, Subscribers: uint32(len(t.subs)), Queued: t.queued(),
		LastSeq: t.lastSeq, Progress: t.progress, Finished: t.finished, Member: t.member,
	}
}

// delete is seed rule 2: close the task's sockets and drop all of its state. The router no
// longer routes to this actor, so nothing is lost by stopping at once.
func (t *TaskActor) delete(ctx actor.Context) {
	t.sendAll(ctx, &v1.Deliver{CloseCode: uint32(CloseNormal), CloseReason: "task deleted"})
	t.dropSubscribers(ctx)
	ctx.Respond(&v1.DeleteAck{TaskId: t.taskID, Found: true})
	ctx.Stop(ctx.Self())
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

func (t *TaskActor) removeSubscriber(pid *actor.PID) {
	for i, s := range t.subs {
		if s.Equal(pid) {
			// slices.Delete clears the vacated slot: a stale PID there would keep the
			// stopped socket actor reachable through its cached process pointer.
			t.subs = slices.Delete(t.subs, i, i+1)
			t.lastActive = time.Since(processStart)
			return
		}
	}
}

// armTimer schedules a passivation check after d, unless the router sweeps. The check runs
// as a message, so the timer goroutine never touches task state.
func (t *TaskActor) armTimer(ctx actor.Context, d time.Duration) {
	if t.swept {
		return
	}
	if t.timer != nil {
		t.timer.Stop()
	}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	t.timer = time.AfterFunc(d, func() { root.Send(self, passivateCheck{}) })
}

// checkIdle passivates a task with no subscribers once its TTL has passed since the last
// publish, subscribe or unsubscribe; otherwise it checks again when the TTL could be up.
func (t *TaskActor) checkIdle(ctx actor.Context) {
	ttl := t.cfg.IdleTTL
	if t.finished {
		ttl = t.cfg.FinishedTTL
	}
	left := ttl - (time.Since(processStart) - t.lastActive)
	if len(t.subs) > 0 || left > 0 {
		t.armTimer(ctx, max(left, ttl/8, time.Millisecond))
		return
	}
	t.passivate(ctx, t.routed)
	// If the router declines (a routed message is still on its way), look again later.
	t.armTimer(ctx, max(ttl/8, time.Millisecond))
}
