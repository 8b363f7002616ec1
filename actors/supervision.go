package actors

import (
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// taskSupervisor handles a panic inside a task actor. The task resumes: it keeps its queue,
// history and subscribers, and only the message that panicked is dropped; its sender, if it
// waits for an answer, gets a TaskFailure at once instead of a timeout. A task that panics
// more than MaxFailures times within FailureWindow is stopped, since its state is
// evidently not one it can work with. Other tasks are never affected.
type taskSupervisor struct {
	cfg    *Config
	stats  *Stats
	logger *slog.Logger
	// unmap runs before a task is stopped, so that nothing more is routed to it (local
	// mode; a cluster grain recovers its own panics and calls failed).
	unmap func(task *actor.PID)
}

func (s *taskSupervisor) HandleFailure(system *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason any, message any) {
	_, msg, sender := actor.UnwrapEnvelope(message)
	if s.failed(system, child, rs, reason, msg, sender) {
		s.unmap(child)
		supervisor.StopChildren(child)
		return
	}
	supervisor.ResumeChildren(child)
}

// failed records, logs and answers one panic of the task actor child while it handled msg
// from sender, and reports whether the task is out of its failure budget and must stop.
func (s *taskSupervisor) failed(system *actor.ActorSystem, child *actor.PID, rs *actor.RestartStatistics, reason, msg any, sender *actor.PID) bool {
	s.stats.TaskPanics.Add(1)
	taskID := ""
	if tm, ok := msg.(interface{ GetTaskId() string }); ok {
		taskID = tm.GetTaskId()
	}
	failure := &v1.TaskFailure{TaskId: taskID, Reason: fmt.Sprint(reason)}
	if c, ok := msg.(*PublishCall); ok {
		c.Refuse("", failure)
	} else if sender != nil {
		system.Root.Send(sender, failure)
	}
	rs.Fail()
	attrs := []any{slog.String("task_id", taskID), slog.String("actor", child.Id),
		slog.String("message", fmt.Sprintf("%T", msg)), slog.Any("panic", reason)}
	switch msg.(type) {
	case *loaded, *committed, *backfilled:
		// The journal's answer was half applied, and what waits for it would wait for
		// good: the task stops, and loads again from what is stored on its next message.
		s.stats.TasksStopped.Add(1)
		s.logger.Error("task stopped: it failed on the journal's answer", attrs...)
		return true
	}
	if rs.NumberOfFailures(s.cfg.FailureWindow) > s.cfg.MaxFailures {
		s.stats.TasksStopped.Add(1)
		s.logger.Error("task stopped: too many failures", append(attrs, slog.Int("max_failures", s.cfg.MaxFailures))...)
		return true
	}
	s.logger.Warn("task resumed after a failure; the message was dropped", attrs...)
	return false
}
