// Package server is tasktail's HTTP and WebSocket edge: routes, the JSON codec and field
// validation, error bodies, health, readiness and metrics. Handlers hold no task state:
// each turns a request into a call on actors.Manager and its answer into a response.
//
// A publish handler blocks until the task actor accepted the messages (the 202 is an
// acknowledgement). A WebSocket handler blocks for the life of its connection and writes
// the connection's frames itself; a slow reader is closed with 1013 by the actors
// package and never slows anyone else. Request bodies are read through a size limit.
//
// Serve runs until its context is done, then drains: readiness turns false, the
// listener closes, in-flight requests finish, sockets get 1001, actors stop, all within
// Config.ShutdownTimeout.
package server
