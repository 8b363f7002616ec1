package pebble

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// pebbleSyncer syncs the Pebble journal's write-ahead log on a timer, for a journal that
// acknowledges commits once written (Options.SyncInterval).
type pebbleSyncer struct {
	every   time.Duration
	fs      vfs.FS
	marker  string      // NEW_EPOCHS_PENDING: removed once a clean close has synced everything
	written atomic.Bool // a commit was written since the last sync
	stop    chan struct{}
	done    chan struct{}
}

func (p *Journal) startSyncer(every time.Duration, fs vfs.FS, marker string) {
	p.syncer = &pebbleSyncer{every: every, fs: fs, marker: marker, stop: make(chan struct{}), done: make(chan struct{})}
	go p.syncLoop()
}

// syncLoop syncs the log every interval in which something was written, until stopSyncer.
func (p *Journal) syncLoop() {
	defer close(p.syncer.done)
	ticker := time.NewTicker(p.syncer.every)
	defer ticker.Stop()
	for {
		select {
		case <-p.syncer.stop:
			return
		case <-ticker.C:
			if err := p.syncWritten(); err != nil {
				p.health.logger.Warn("journal: syncing the write-ahead log failed; tried again on the next tick", slog.String("component", "journal"), slog.Any("error", err))
			}
		}
	}
}

// syncWritten syncs the log if a commit was written since the last sync: an empty record
// written with sync makes everything before it durable.
func (p *Journal) syncWritten() error {
	if !p.syncer.written.Swap(false) {
		return nil
	}
	b := p.db.NewBatch()
	defer b.Close()
	err := b.LogData(nil, nil)
	if err == nil {
		err = p.commitWith(b, true, pebbledb.Sync)
	}
	if err != nil {
		p.syncer.written.Store(true) // tried again on the next tick
	}
	return err
}

// stopSyncer stops the timer, syncs what is left and, once that succeeded, removes the
// marker that owes new epochs; without a syncer it does nothing.
func (p *Journal) stopSyncer() error {
	if p.syncer == nil {
		return nil
	}
	select {
	case <-p.syncer.stop:
		return nil // stopped before
	default:
	}
	close(p.syncer.stop)
	<-p.syncer.done
	if err := p.syncWritten(); err != nil {
		return err
	}
	return p.syncer.fs.Remove(p.syncer.marker)
}

// Sync makes every commit written so far durable now, whatever the sync setting.
func (p *Journal) Sync() error {
	if p.syncer == nil {
		return nil
	}
	p.syncer.written.Store(true)
	return p.syncWritten()
}

// ParseSync reads a durability setting: "always" (0: every commit synced before it is
// acknowledged) or "interval=DURATION", from 1 ms to 1 s (Options.SyncInterval).
func ParseSync(s string) (time.Duration, error) {
	if s == "always" {
		return 0, nil
	}
	text, ok := strings.CutPrefix(s, "interval=")
	d, err := time.ParseDuration(text)
	if !ok || err != nil || d < time.Millisecond || d > time.Second {
		return 0, fmt.Errorf("--sync %q: want always, or interval= a duration from 1ms to 1s (interval=10ms)", s)
	}
	return d, nil
}
