package conn

import (
	"context"
	"time"
)

// Close codes of the contract (docs/design.md, "WebSocket frames").
const (
	CloseNormal        CloseCode = 1000 // task finished or deleted
	CloseGoingAway     CloseCode = 1001 // server shutting down or task moving: resume with since
	ClosePolicy        CloseCode = 1008 // authentication
	CloseInternal      CloseCode = 1011 // a write failed
	CloseTryAgainLater CloseCode = 1013 // slow consumer: resume with since
)

// CloseCode is a WebSocket close status code.
type CloseCode uint16

// Socket is one client connection as the Manager sees it. Write sends one frame and must
// honour ctx's deadline; Close ends the connection with a WebSocket close code. Both are
// called from one goroutine at a time.
type Socket interface {
	Write(ctx context.Context, frame []byte) error
	Close(code CloseCode, reason string) error
}

// BatchSocket is a Socket that can write a run of frames at once. The writer uses
// WriteFrames when a socket has it, so that a burst costs one syscall instead of one per
// frame, and no context or timer per run. It writes frames in order, failing at
// deadline, and returns how many of them reached the connection.
type BatchSocket interface {
	Socket
	WriteFrames(deadline time.Time, frames [][]byte) (int, error)
}
