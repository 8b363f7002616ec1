// Package actors is tasktail's core: task state. One TaskActor per task_id; a Router that
// finds task actors (the local Registry, or the cluster's grains) and routes by one message
// table (ops.go); the publish pipe and Producer; supervision; and the Manager, which is
// the Go API. Connection I/O (sockets, frames, the outbox and its writer) is package conn.
// The contract and the architecture are docs/design.md.
//
// # Ownership
//
// A TaskActor owns all state of its task: subscribers, queue, history, seq, epoch,
// progress and finished. Nothing else reads or writes it; every operation is a message
// (a *PublishCall, or a protobuf message of proto/tasktail/v1). Task actors do no I/O: a
// frame is JSON-encoded once when a message is published and the same bytes go to every
// subscriber in a Deliver. No lock is taken on a task's goroutine.
//
// # Blocking
//
// Manager methods block until the task answers or Config.RequestTimeout passes; they are
// never called from inside an actor. Attach returns once the connection is subscribed;
// Attachment.Start returns at once, and frames are written by a goroutine that runs only
// while frames wait, so an idle connection costs none. Actors never block in Receive.
//
// # Goroutines
//
// Every goroutine has an owner that waits for it: connection writers are counted by the
// Manager and awaited by Shutdown (until its context ends); the pipes' senders, started
// only by actors, are awaited after the router has stopped its actors; a cluster member's
// requests and lookups go through a goroutines.Group that its Shutdown waits for.
//
// # Ordering
//
// Each subscriber receives hello first, then any gap and the queued or replayed
// messages, then live messages, all in seq order and never twice on one connection.
// Publishes to one task are applied in the order they were made.
//
// # Slow readers
//
// A slow connection never slows its task or another subscriber: past Config.SocketBuffer
// waiting frames it is closed with 1013 and the task forgets it; a failed write closes it
// and removes it (rule 7 of docs/design.md). See package conn.
//
// # Failure
//
// A panic while a task handles a message drops that message (a waiting caller gets
// ErrTaskFailed at once) and the task resumes with its state. More than
// Config.MaxFailures panics within Config.FailureWindow stop the task.
package actors
