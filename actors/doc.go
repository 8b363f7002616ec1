// Package actors is tasktail's core: one TaskActor per task_id, one socket actor per
// connection, a Router that finds task actors (the local Registry here; the cluster is
// the other implementation), and the Manager facade that is the Go API.
//
// # Ownership
//
// A TaskActor owns all state of its task: subscribers, queue, history, seq, epoch,
// progress and finished. Nothing else reads or writes it; every operation is a protobuf
// message from proto/tasktail/v1. Task actors do no I/O: a frame is JSON-encoded once
// when a message is published and the same bytes go to every subscriber in a Deliver.
//
// # Blocking
//
// Manager methods block until the task answers or Config.RequestTimeout passes; they are
// never called from inside an actor. Manager.Serve (and Attachment.Run) block for the life
// of a connection; Manager.Connect (and Attachment.Start) return once the socket is
// registered. Either way frames are written by a goroutine the Manager owns, started when
// frames wait and gone when none do, so an idle connection costs none; Shutdown waits for
// it. Actors never block in Receive.
//
// # Ordering
//
// Each subscriber receives hello first, then any gap and the queued or replayed
// messages, then live messages, all in seq order and never twice on one connection.
//
// # Slow readers
//
// A socket actor pushes frames into its outbox without blocking. When more than
// Config.SocketBuffer frames wait (the first delivery, hello and replay, is exempt and
// bounded by HistoryLimit), the socket is closed with 1013 "slow consumer" and the task
// forgets it; the client resumes with since. Every write has Config.WriteTimeout; a
// failed write closes the socket and removes it (seed rule 7). A slow socket never slows
// its task or another subscriber.
//
// # Failure
//
// A panic while a task handles a message drops that message (a waiting caller gets
// ErrTaskFailed at once) and the task resumes with its state. More than
// Config.MaxFailures panics within Config.FailureWindow stop the task.
package actors
