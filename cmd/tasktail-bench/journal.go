package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/tasktail/tasktail/internal/pgserver"
	"github.com/tasktail/tasktail/journal/pebble"

	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// fillJournal writes c.tasks tasks named c.prefix+N, each of c.messages entries of about
// c.size bytes and never watched, into a new pebble journal in c.fill, committing a
// thousand tasks at a time.
func fillJournal(c benchConfig, stdout io.Writer) error {
	if _, err := os.Stat(c.fill); err == nil {
		return fmt.Errorf("%s exists: --fill-journal makes a new journal", c.fill)
	}
	j, err := pebble.Open(c.fill, pebble.Options{})
	if err != nil {
		return err
	}
	defer j.Close()
	began, now := time.Now(), time.Now().UnixNano()
	message := strings.Repeat("x", max(c.size-20, 1))
	var group []journal.Append
	for t := range c.tasks {
		entries := make([]journal.Entry, c.messages)
		for i := range entries {
			entries[i] = journal.Entry{Seq: uint64(i + 1), TimeUnixNano: now, Level: v1.Level_LEVEL_INFO,
				Message: fmt.Sprintf("%06d %s", i+1, message), Progress: float64(i % 101)}
		}
		group = append(group, journal.Append{TaskID: fmt.Sprintf("%s%d", c.prefix, t), Entries: entries,
			Meta: journal.Meta{Epoch: fmt.Sprintf("fill%d", t), LastSeq: uint64(c.messages), Active: now}})
		if len(group) == 1000 || t == c.tasks-1 {
			if err := j.Commit(group); err != nil {
				return err
			}
			group = group[:0]
		}
	}
	fmt.Fprintf(stdout, "filled %s with %d tasks of %d entries in %.1fs\n", c.fill, c.tasks, c.messages, time.Since(began).Seconds())
	return nil
}

// fsyncProbe measures what a durable acknowledgement costs here at the least: 1,000
// rounds of a 4 KiB append and fdatasync to a file in dir, the wall time and the CPU time
// (kernel time, charged to the caller) of each.
func fsyncProbe(dir string, stdout io.Writer) error {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const rounds = 1000
	block := make([]byte, 4096)
	cpu0, began := selfCPU(), time.Now()
	for range rounds {
		if _, err := f.Write(block); err != nil {
			return err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return err
		}
	}
	wall, cpu := time.Since(began)/rounds, time.Duration((selfCPU()-cpu0)*float64(time.Second))/rounds
	fmt.Fprintf(stdout, "fdatasync after a 4 KiB append in %s: %v wall, %v CPU each (%d rounds)\n", dir, wall.Round(time.Microsecond), cpu.Round(time.Microsecond), rounds)
	return nil
}

// throwawayPostgres runs a PostgreSQL for a benchmark of the postgres journal until ctx
// ends (SIGINT, SIGTERM), then removes it.
func throwawayPostgres(ctx context.Context, stdout io.Writer) error {
	pg, err := pgserver.Start()
	if err != nil {
		return err
	}
	defer pg.Stop()
	fmt.Fprintln(stdout, pg.URL)
	<-ctx.Done()
	return nil
}
