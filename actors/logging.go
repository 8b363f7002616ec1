package actors

import (
	"context"
	"log/slog"
)

// libraryHandler carries the actor library's log records to the service's handler. The
// library logs its routine work (members seen, endpoints started) at Info: an operator
// sees its warnings and errors, and everything else only with the service at Debug.
// Records of situations tasktail handles itself are Debug too:
//   - "cluster.RequestFuture failed": a task moved or passivated; the router retries.
//   - "sendGossipForMember failed": a member left; the provider drops it.
//   - the endpoint writer's and the automanaged provider's records of a member that left
//     or died ("lost connection", "failed to connect", "failed to create receive
//     stream", "Bad connection to the node health status"): the topology change is
//     logged once, as "a member left the cluster" (package cluster).
type libraryHandler struct{ slog.Handler }

var routineLibraryRecords = map[string]bool{
	"cluster.RequestFuture failed":                   true,
	"sendGossipForMember failed":                     true,
	"EndpointWriter lost connection":                 true,
	"EndpointWriter failed to connect":               true,
	"EndpointWriter failed to create receive stream": true,
	"Bad connection to the node health status":       true,
}

func (h libraryHandler) debug(ctx context.Context) bool {
	return h.Handler.Enabled(ctx, slog.LevelDebug)
}

func (h libraryHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.debug(ctx) || level >= slog.LevelWarn && h.Handler.Enabled(ctx, level)
}

func (h libraryHandler) Handle(ctx context.Context, r slog.Record) error {
	if routineLibraryRecords[r.Message] {
		r.Level = slog.LevelDebug
	}
	if !h.debug(ctx) && r.Level < slog.LevelWarn || !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h libraryHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return libraryHandler{h.Handler.WithAttrs(attrs)}
}

func (h libraryHandler) WithGroup(name string) slog.Handler {
	return libraryHandler{h.Handler.WithGroup(name)}
}
