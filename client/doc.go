// Package client is the Go client of a tasktail server.
//
// Publish, PublishBatch, Status and Delete are one HTTP request each. Tail opens a
// WebSocket to a task and returns a Stream of events (hello, log, gap). A Stream
// reconnects by itself after a dropped connection or a 1001/1013/1011 close, with
// exponential backoff, resuming with since and epoch so no message is lost or repeated;
// what the server could not keep arrives as a gap event. It ends with io.EOF when the
// task finishes or is deleted.
//
// Errors the API answers with are *APIError values; compare them with errors.Is against
// ErrInvalidArgument, ErrNotFound, ErrTaskFinished, ErrTooLarge and the rest. Every call
// takes a context.
//
// A Client is safe for concurrent use; a Stream is not (one reader).
package client
