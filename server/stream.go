package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/wire"
)

// mediaNDJSON is the Content-Type of a streaming publish: one JSON object per line.
const mediaNDJSON = "application/x-ndjson"

// streamChunkBytes bounds the lines a stream holds before it publishes them, next to
// Config.Actors.MaxBatch lines.
const streamChunkBytes = 1 << 20

// streamProgress is what a streaming publish has published so far; it is part of every
// answer to one, errors included, so a producer knows where to go on.
type streamProgress struct {
	taskID         string
	accepted       uint64 // lines published
	firstSeq, last uint64
	queued         bool // the last chunk found no viewer
	line           int  // lines read, blank ones included
	pending        *actors.Entries
	pendingBytes   int
}

func (p *streamProgress) appendJSON(b []byte) []byte {
	b = append(b, `"task_id":"`...)
	b = append(b, p.taskID...)
	b = append(b, `","accepted":`...)
	b = strconv.AppendUint(b, p.accepted, 10)
	if p.accepted > 0 {
		b = append(b, `,"first_seq":`...)
		b = strconv.AppendUint(b, p.firstSeq, 10)
		b = append(b, `,"last_seq":`...)
		b = strconv.AppendUint(b, p.last, 10)
		b = append(b, `,"queued":`...)
		b = strconv.AppendBool(b, p.queued)
	}
	return b
}

// publishStream serves a streaming publish (Content-Type application/x-ndjson): one JSON
// object per line, each under the rules of a single publish. Lines are published in
// chunks as they arrive: whatever has been read when the connection has nothing more
// buffered (so a producer that writes a line now and then sees each one delivered at
// once), at most MaxBatch lines or 1 MiB per chunk. Unlike a batch it is not all or
// nothing: the first bad line ends the request, every line before it is published, and
// the answer names the line and counts what was accepted. A stream that sends nothing
// for IdleTimeout is ended the same way, and so is every stream when the server drains.
func (s *Server) publishStream(w http.ResponseWriter, r *http.Request, taskID string) {
	p := &streamProgress{taskID: taskID, pending: s.Manager().NewEntries()}
	rc := http.NewResponseController(w)
	// Draining ends a stream at its next read, and unblocks one waiting for a line.
	stopDrain := context.AfterFunc(s.drainCtx, func() { _ = rc.SetReadDeadline(time.Now()) })
	defer stopDrain()
	// The stream's buffer counts against the body budget, and so does a line longer than
	// the buffer while it is read.
	if !s.bodies.reserve(streamBuffer) {
		s.writeError(w, r, errBodyBudget)
		return
	}
	defer s.bodies.release(streamBuffer)
	br := bufio.NewReaderSize(r.Body, streamBuffer)
	for {
		if br.Buffered() == 0 && p.pending.Len() > 0 {
			// The next read may wait for the producer: publish what it has sent so far.
			if err := s.flushStream(r.Context(), p); err != nil {
				s.writeErrorWith(w, r, p.appendJSON, err)
				return
			}
		}
		if s.drainCtx.Err() == nil {
			_ = rc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		}
		line, held, readErr := readLine(br, s.cfg.MaxBodyBytes, s.bodies)
		end, err := s.streamLine(r.Context(), p, line, readErr)
		s.bodies.release(held) // the line's entries are copies
		if err != nil {
			s.writeErrorWith(w, r, p.appendJSON, err)
			return
		}
		if end {
			break
		}
	}
	if err := s.flushStream(r.Context(), p); err != nil {
		s.writeErrorWith(w, r, p.appendJSON, err)
		return
	}
	if p.accepted == 0 {
		s.writeErrorWith(w, r, p.appendJSON, &wire.InvalidError{Field: "body", Reason: "no lines: want one JSON object per line"})
		return
	}
	b := append(p.appendJSON([]byte{'{'}), "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(b)
}

// streamLine handles what readLine returned: a line to add, the end of the stream, or
// an error that ends it.
func (s *Server) streamLine(ctx context.Context, p *streamProgress, line []byte, readErr error) (end bool, err error) {
	if len(line) == 0 && readErr == io.EOF {
		return true, nil
	}
	p.line++
	switch {
	case errors.Is(readErr, bufio.ErrBufferFull):
		return true, s.flushThen(ctx, p, wire.TooLarge(p.lineField("body"), "line larger than the request limit"))
	case readErr != nil && readErr != io.EOF:
		return true, s.flushThen(ctx, p, s.streamReadError(readErr))
	}
	if len(bytes.TrimSpace(line)) > 0 {
		if err := s.addStreamLine(ctx, p, line); err != nil {
			return true, err
		}
	}
	return readErr == io.EOF, nil
}

// addStreamLine decodes one line into the pending chunk, publishing the chunk first when
// the line would not fit, or after the line when it finishes the task (only the last
// entry of a publish may).
func (s *Server) addStreamLine(ctx context.Context, p *streamProgress, line []byte) error {
	entries, batch, err := wire.DecodePublish(line)
	if err == nil && batch {
		err = wire.Invalid("body", "must be one JSON object per line")
	}
	if err == nil && (p.pending.Len() == s.cfg.Actors.MaxBatch || p.pendingBytes+len(line) > streamChunkBytes) {
		err = s.flushStream(ctx, p)
		if err != nil {
			return err
		}
	}
	if err == nil {
		err = p.pending.Add(entries[0])
	}
	if err != nil {
		var inv *wire.InvalidError
		if errors.As(err, &inv) {
			err = &wire.InvalidError{Field: p.lineField(inv.Field), Reason: inv.Reason, Limit: inv.Limit}
		}
		return s.flushThen(ctx, p, err)
	}
	p.pendingBytes += len(line)
	if entries[0].Finished {
		return s.flushStream(ctx, p)
	}
	return nil
}

// flushStream publishes the pending chunk.
func (s *Server) flushStream(ctx context.Context, p *streamProgress) error {
	if p.pending.Len() == 0 {
		return nil
	}
	ack, err := s.Manager().PublishEntries(ctx, p.taskID, p.pending)
	if err != nil {
		return err
	}
	if p.accepted == 0 {
		p.firstSeq = ack.FirstSeq
	}
	p.accepted += uint64(p.pending.Len())
	p.last, p.queued = ack.LastSeq, ack.Queued
	p.pending.Reset()
	p.pendingBytes = 0
	return nil
}

// flushThen publishes the lines before a bad one and returns err, the bad line's error,
// unless publishing them failed.
func (s *Server) flushThen(ctx context.Context, p *streamProgress, err error) error {
	if ferr := s.flushStream(ctx, p); ferr != nil {
		return ferr
	}
	return err
}

func (s *Server) streamReadError(err error) error {
	switch {
	case s.drainCtx.Err() != nil:
		return actors.ErrShuttingDown
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &wire.InvalidError{Field: "body", Reason: fmt.Sprintf("no line for %s: stream ended", s.cfg.IdleTimeout)}
	}
	return fmt.Errorf("read stream: %w", err)
}

func (p *streamProgress) lineField(field string) string {
	return "line " + strconv.Itoa(p.line) + ": " + field
}

// streamBuffer is the read buffer of a streaming publish.
const streamBuffer = 64 << 10

// readLine reads one line, without its end, of at most limit bytes. It returns
// bufio.ErrBufferFull for a longer line, and io.EOF with the last line when the input
// does not end with a newline. A line longer than br's buffer is gathered in memory that
// budget must grant (limit bytes, or errBodyBudget); held says how much the caller gives
// back once done with the line.
func readLine(br *bufio.Reader, limit int64, budget *bodyBudget) (line []byte, held int64, err error) {
	line, err = br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		if !budget.reserve(limit) {
			return nil, 0, errBodyBudget
		}
		held = limit
		long := append(make([]byte, 0, min(limit+1, 2*int64(len(line)))), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if int64(len(long)) > limit {
				return nil, held, bufio.ErrBufferFull
			}
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if int64(len(line)) > limit+1 {
		return nil, held, bufio.ErrBufferFull
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	return line, held, err
}
