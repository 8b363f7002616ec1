// Package conn is tasktail's connection I/O: the Socket interface a viewer's connection
// implements, the contract's close codes and frame bytes (docs/design.md, "WebSocket
// frames"), and Viewer, a connection's presence in the actor system.
//
// # Ownership
//
// A Viewer is a socket actor and an outbox. Tasks send the socket actor Deliver messages;
// it pushes their frames into the outbox without blocking, and leaves its task (an
// Unsubscribe) when the connection ends. The outbox's mutex guards connection buffering
// only, never task state. conn does not import the actors package: the service's counters
// reach it as Counters.
//
// # Blocking and goroutines
//
// A writer goroutine runs only while frames wait: the first push, close or end of the
// connection after Start spawns one, it takes everything pending in one step, and it
// exits when nothing is left. A run of up to 64 frames and 64 KiB is written under one
// deadline, in one write on a WebSocket from Accept (the connection below the WebSocket
// library is corked while the run is handed over); a viewer that chose wire.BatchSubprotocol
// gets the run as one message, a JSON array. Accept starts the connection's reader,
// which ends with the connection; End waits for it.
//
// # Slow readers
//
// When more than ViewerOptions.Buffer frames wait (the first delivery, hello and replay,
// is exempt), the connection is closed with 1013 "slow consumer" and the client resumes
// with since. A write that fails or passes its deadline closes the connection with 1011.
package conn
