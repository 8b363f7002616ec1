// Package taskstate is a task's state and its rules, with no actors and no I/O: the
// original ConnectionManager's queue (rules 3 and 4 of docs/design.md), sequence numbers,
// progress, the finished state, epochs and idempotency keys.
//
// Every change is a record applied by one function, State.Apply: entries appended (a
// publish call's Plan), a restart, the queue seen by a viewer, the journal's answer to a
// commit, and a load. The task actor applies the same records live, once the journal has
// stored them, and when it loads the task again, so the rules exist once. What the task
// actor keeps besides is routing, viewers, the history of encoded frames and timers.
//
// A State is owned by one goroutine (its task actor's); nothing here blocks or locks.
package taskstate
