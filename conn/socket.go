package conn

import (
	"context"
	"time"

	"github.com/tasktail/tasktail/wire"
)

// Socket is one client connection as the Manager sees it. Write sends one frame and must
// honour ctx's deadline; Close ends the connection with a WebSocket close code. Both are
// called from one goroutine at a time.
type Socket interface {
	Write(ctx context.Context, frame []byte) error
	Close(code wire.CloseCode, reason string) error
}

// BatchSocket is a Socket that can write a run of frames at once. The writer uses
// WriteFrames when a socket has it, so that a burst costs one syscall instead of one per
// frame, and no context or timer per run. It writes frames in order, failing at
// deadline, and returns how many of them reached the connection.
type BatchSocket interface {
	Socket
	WriteFrames(deadline time.Time, frames [][]byte) (int, error)
}
