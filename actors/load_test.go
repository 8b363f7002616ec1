package actors_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/actors/actortest"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// orderSocket checks a connection's frames as they come instead of keeping them: one
// hello first, at most one gap, then log seqs without a hole or a repeat.
type orderSocket struct {
	mu      sync.Mutex
	hellos  int
	gapFrom uint64
	gapTo   uint64
	first   uint64 // first log seq
	last    uint64 // last log seq
	logs    int
	err     error
}

func (s *orderSocket) Write(_ context.Context, f []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case bytes.HasPrefix(f, []byte(`{"type":"hello"`)):
		s.hellos++
	case bytes.HasPrefix(f, []byte(`{"type":"gap"`)):
		if s.logs > 0 || s.gapTo != 0 {
			s.fail("gap after logs or a second gap: %s", f)
		}
		s.gapFrom, s.gapTo = field(f, `"from_seq":`), field(f, `"to_seq":`)
	case bytes.HasPrefix(f, []byte(`{"type":"log"`)):
		seq := field(f, `"seq":`)
		if s.hellos != 1 || (s.logs > 0 && seq != s.last+1) {
			s.fail("log %d after %d (hellos %d)", seq, s.last, s.hellos)
		}
		if s.logs == 0 {
			s.first = seq
		}
		s.last = seq
		s.logs++
	}
	return nil
}

func (s *orderSocket) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf(format, args...)
	}
}

func (s *orderSocket) Close(wire.CloseCode, string) error { return nil }

func (s *orderSocket) state() (logs int, first, last, gapFrom, gapTo uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs, s.first, s.last, s.gapFrom, s.gapTo, s.err
}

// field reads the unsigned number after key in a frame (0 when absent).
func field(f []byte, key string) uint64 {
	i := bytes.Index(f, []byte(key))
	if i < 0 {
		return 0
	}
	rest := f[i+len(key):]
	end := bytes.IndexAny(rest, ",}")
	n, _ := strconv.ParseUint(string(rest[:end]), 10, 64)
	return n
}

// trimModel is rule 4 of docs/design.md, the queue bound, written again from its
// statement: a queue holds up to limit messages; when one more would pass it, only the latest keep stay.
type trimModel struct {
	limit, keep       uint64
	unseen, queueFrom uint64
}

func (m *trimModel) publishUnseen(seq uint64) {
	if m.unseen == 0 {
		m.unseen, m.queueFrom = seq, seq
	}
	if seq-m.queueFrom+1 > m.limit {
		m.queueFrom = seq - m.keep + 1
	}
}

func (m *trimModel) queued(last uint64) uint64 {
	if m.unseen == 0 {
		return 0
	}
	return last - m.queueFrom + 1
}

// Ten thousand tasks of 100 messages each, with viewers connecting before, during or
// after the publishing: every message arrives once per viewer in seq order, queued
// counts are exact, and gaps are exactly where the trim rule puts them.
func TestLoadTenThousandTasks(t *testing.T) {
	const (
		tasks, messages, batch = 10_000, 100, 10
		limit, keep            = 60, 30
		workers                = 16
	)
	m := actortest.NewManager(t, actors.Config{QueueLimit: limit, QueueKeep: keep, HistoryLimit: 100}, actors.Options{}, time.Minute)
	ctx := context.Background()
	sockets := make([]*orderSocket, tasks)
	models := make([]*trimModel, tasks)
	connectAt := func(i int) int { return []int{0, messages / 2, messages}[i%3] } // before, during, after
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < tasks; i += workers {
				id := fmt.Sprintf("load-%d", i)
				models[i] = &trimModel{limit: limit, keep: keep}
				sockets[i] = &orderSocket{}
				for sent := 0; sent <= messages; sent += batch {
					if sent == connectAt(i) {
						if q, _ := m.QueuedCount(ctx, id); uint64(q) != models[i].queued(uint64(sent)) {
							errs <- fmt.Errorf("%s: queued %d before connect, model says %d", id, q, models[i].queued(uint64(sent)))
							return
						}
						if err := m.Connect(ctx, id, sockets[i]); err != nil {
							errs <- err
							return
						}
					}
					if sent == messages {
						break
					}
					entries := make([]*v1.LogInput, batch)
					for j := range entries {
						entries[j] = &v1.LogInput{Level: v1.Level_LEVEL_INFO, Message: "m"}
						if sent < connectAt(i) {
							models[i].publishUnseen(uint64(sent + j + 1))
						}
					}
					if _, err := m.Publish(ctx, id, entries); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	published := time.Since(began)
	actortest.AwaitCondition(t, 2*time.Minute, "every viewer has every message", func() bool {
		for _, s := range sockets {
			if _, _, last, _, _, _ := s.state(); last != messages {
				return false
			}
		}
		return true
	})
	for i, s := range sockets {
		logs, first, last, gapFrom, gapTo, err := s.state()
		if err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
		mdl := models[i]
		wantFirst, wantGapTo := uint64(1), uint64(0)
		if mdl.unseen != 0 && mdl.unseen < mdl.queueFrom {
			wantFirst, wantGapTo = mdl.queueFrom, mdl.queueFrom-1
		}
		if first != wantFirst || last != messages || logs != int(last-first+1) || gapTo != wantGapTo || (wantGapTo != 0 && gapFrom != mdl.unseen) {
			t.Fatalf("task %d (connect at %d): logs %d..%d (%d), gap %d-%d; want from %d, gap %d-%d",
				i, connectAt(i), first, last, logs, gapFrom, gapTo, wantFirst, mdl.unseen, wantGapTo)
		}
	}
	t.Logf("%d tasks × %d messages published in %v, all delivered after %v", tasks, messages, published, time.Since(began))
}
