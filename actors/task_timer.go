package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// A task's own timer and its idle check: when it passivates (Config.IdleTTL, FinishedTTL).

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
	if t.s.Finished {
		ttl = t.cfg.FinishedTTL
	}
	if len(t.subs) > 0 && t.j != nil && t.j.failed {
		// Its reload failed (after an unknown outcome), and only viewers are left to
		// touch it: try again, so that they get what the journal has.
		t.load(ctx)
	}
	if len(t.subs) > 0 && t.j != nil {
		// Watched is active: the journal's idle retention must not sweep a task someone
		// watches, so its activity time is written, an eighth of the retention after the
		// last write that carried it. Idle viewers cost no write in between.
		t.lastActive = time.Since(processStart)
		if t.lastActive-t.j.activeWritten >= t.cfg.IdleRetention/8 {
			t.markSeen()
		}
		t.writeMeta(ctx)
	}
	left := ttl - (time.Since(processStart) - t.lastActive)
	if !t.created {
		left = 0 // a waiting task goes with its last viewer
	}
	if len(t.subs) > 0 || left > 0 || t.busyWithJournal() {
		t.armTimer(ctx, max(left, ttl/8, time.Millisecond))
		return
	}
	t.writeMeta(ctx)
	t.passivate(ctx, t.routed)
	// If the router declines (a routed message is still on its way), look again later.
	t.armTimer(ctx, max(ttl/8, time.Millisecond))
}
