// Package server is tasktail's HTTP and WebSocket edge: routes, the JSON codec and field
// validation, error bodies, health, readiness and metrics. Handlers hold no task state:
// each turns a request into a call on actors.Manager and its answer into a response.
//
// A publish handler blocks until the task actor accepted the messages (the 202 is an
// acknowledgement). A WebSocket handler attaches the viewer to its task, upgrades, hands
// the connection to conn (conn.Accept) and returns: a reader goroutine and a writer that
// runs only while frames wait carry the connection from then on, and a slow reader is
// closed with 1013 without slowing anyone else. Request bodies are read through a size
// limit. The contract is docs/design.md, "HTTP API".
//
// Serve runs until its context is done, then drains: readiness turns false, the
// listener closes, in-flight requests finish, sockets get 1001, actors stop, all within
// Config.ShutdownTimeout.
package server
