package actors_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// A Producer's messages arrive in order, exactly once, next to concurrent SendLogs to the
// same task; Flush answers with the last one's seq.
func TestProducerKeepsOrderNextToOtherPublishers(t *testing.T) {
	const own, others = 5000, 4 * 500
	m := newManager(t, actors.Config{SocketBuffer: 10_000}, actors.Options{})
	ctx := context.Background()
	viewer := connect(t, m, "p")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if _, err := m.SendLog(ctx, "p", v1.Level_LEVEL_INFO, fmt.Sprintf("other %d %d", g, i), 0, false); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	pr, err := m.Producer("p")
	if err != nil {
		t.Fatal(err)
	}
	for i := range own {
		if err := pr.SendLog(ctx, v1.Level_LEVEL_INFO, fmt.Sprintf("own %d", i), float64(i%101), false); err != nil {
			t.Fatal(err)
		}
	}
	ack, err := pr.Close(ctx)
	wg.Wait()
	if err != nil || ack.LastSeq == 0 || ack.TaskID != "p" {
		t.Fatalf("Close: %+v %v", ack, err)
	}
	frames := actortest.DecodeFrames(t, viewer.WaitFrames(t, 1+own+others, wait))
	seqs := logSeqs(t, frames)
	if len(seqs) != own+others {
		t.Fatalf("%d log frames, want %d", len(seqs), own+others)
	}
	next := 0
	var ownLast uint64
	for _, f := range frames[1:] {
		if f.Seq == 0 || (len(f.Message) > 4 && f.Message[:4] != "own ") {
			continue
		}
		if f.Message != fmt.Sprintf("own %d", next) || f.Progress != float64(next%101) {
			t.Fatalf("own message %d arrived as %+v", next, f)
		}
		next++
		ownLast = f.Seq
	}
	if next != own || ack.LastSeq != ownLast {
		t.Fatalf("%d own messages, last at %d; Close said %d", next, ownLast, ack.LastSeq)
	}
}

// A bad message is refused at once and publishes nothing; an error from the task (here:
// it has finished) is returned by the next call and sticks.
func TestProducerErrors(t *testing.T) {
	m := newManager(t, actors.Config{}, actors.Options{})
	ctx := context.Background()
	if _, err := m.Producer("bad id"); err == nil {
		t.Fatal("Producer accepted a bad task_id")
	}
	pr, err := m.Producer("f")
	if err != nil {
		t.Fatal(err)
	}
	var inv *actors.InvalidError
	if err := pr.SendLog(ctx, v1.Level_LEVEL_INFO, "x", 101, false); !errors.As(err, &inv) || inv.Field != "progress" {
		t.Fatalf("progress 101: %v", err)
	}
	if err := pr.SendLog(ctx, v1.Level_LEVEL_INFO, "one", 0, false); err != nil {
		t.Fatal(err)
	}
	if err := pr.SendLog(ctx, v1.Level_LEVEL_SUCCESS, "end", 100, true); err != nil {
		t.Fatal(err)
	}
	_ = pr.SendLog(ctx, v1.Level_LEVEL_INFO, "after the end", 100, false) // may already fail
	if _, err := pr.Flush(ctx); !errors.Is(err, actors.ErrTaskFinished) {
		t.Fatalf("Flush after publishing past the end: %v", err)
	}
	if err := pr.SendLog(ctx, v1.Level_LEVEL_INFO, "later", 0, false); !errors.Is(err, actors.ErrTaskFinished) {
		t.Fatalf("the error did not stick: %v", err)
	}
	if _, err := pr.Close(ctx); !errors.Is(err, actors.ErrTaskFinished) {
		t.Fatalf("Close: %v", err)
	}
	st, err := m.Status(ctx, "f")
	if err != nil || st.LastSeq != 2 || !st.Finished {
		t.Fatalf("status %+v %v: want the two messages up to the end", st, err)
	}

	full := newManager(t, actors.Config{MaxTasks: 1}, actors.Options{})
	sendN(t, full, "only", 1, 1)
	pr, _ = full.Producer("second")
	_ = pr.SendLog(ctx, v1.Level_LEVEL_INFO, "x", 0, false)
	if _, err := pr.Close(ctx); !errors.Is(err, actors.ErrTooManyTasks) {
		t.Fatalf("past MaxTasks: %v", err)
	}
}
