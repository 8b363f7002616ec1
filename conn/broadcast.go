package conn

import (
	"context"

	"github.com/tasktail/tasktail/wire"
)

// Counters are the service's counters that viewers update. The actors package's Stats
// implements them; connection code never reads them.
type Counters interface {
	ViewerOpened()
	ViewerClosed()
	Delivered(frames int)
	WriteFailed()
	SlowConsumer()
}

// Broadcast closes every viewer started under it with one code and reason, from any
// goroutine. Its code and reason are written before ctx is cancelled and only read after,
// so they need no lock. A context, not a channel: an idle viewer, which has no writer
// goroutine, watches it with context.AfterFunc.
type Broadcast struct {
	ctx    context.Context
	fire   context.CancelFunc
	code   wire.CloseCode
	reason string
}

// NewBroadcast returns a Broadcast that has not fired.
func NewBroadcast() *Broadcast {
	ctx, fire := context.WithCancel(context.Background())
	return &Broadcast{ctx: ctx, fire: fire}
}

// Fire closes every viewer started under b with code and reason. Call it once.
func (b *Broadcast) Fire(code wire.CloseCode, reason string) {
	b.code, b.reason = code, reason
	b.fire()
}
