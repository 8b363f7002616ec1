package main

import (
	"bytes"
	"time"

	"github.com/tasktail/tasktail/client"
	"github.com/tasktail/tasktail/internal/termtext"
)

// updateEvery is how often a line rewritten with \r (a progress bar) is published: its
// first state at once, then at most one state per updateEvery, and its final state.
const updateEvery = 300 * time.Millisecond

// outputLines turns a command's output into messages, in the order the chunks arrive: a
// message per line, and a line rewritten with \r as one message followed by updates of
// it (docs/design.md, "How a log reads"). It is used by one goroutine.
type outputLines struct {
	opts *lineOptions
	now  func() time.Time
	emit func(client.Log)
}

// outputStream is what outputLines knows of one stream of the command.
type outputStream struct {
	name    string // the messages' stream; "" on a terminal, where the streams are one
	level   client.Level
	line    []byte // the text since the last \r or \n
	cut     int    // what the line had beyond maxLineBytes
	cr      bool   // the last byte was \r: \n next ends the line, anything else rewrites it
	open    bool   // a state of this line was published: later ones are updates
	last    string // the state last published
	pending *string
	at      time.Time // when the last state was published
}

// feed takes the next chunk of a stream's output.
func (o *outputLines) feed(s *outputStream, data []byte) {
	for len(data) > 0 {
		if s.cr {
			s.cr = false
			if data[0] == '\n' {
				o.endLine(s)
				data = data[1:]
				continue
			}
			o.rewrite(s)
		}
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			s.add(data)
			return
		}
		s.add(data[:i])
		if data[i] == '\n' {
			o.endLine(s)
		} else {
			s.cr = true
		}
		data = data[i+1:]
	}
}

// end takes the end of a stream: a last line without a newline is published.
func (o *outputLines) end(s *outputStream) {
	if s.cr {
		s.cr = false
		o.rewrite(s)
	}
	if len(s.line) > 0 || s.cut > 0 || s.open {
		o.endLine(s)
	}
}

// tick publishes the newest state of each rewritten line whose turn has come: one that
// waited, or the text drawn since the last \r (a bar that stalls shows where it is).
func (o *outputLines) tick(streams ...*outputStream) {
	now := o.now()
	for _, s := range streams {
		if !s.open || now.Sub(s.at) < updateEvery {
			continue
		}
		if len(s.line) > 0 {
			o.publishState(s, string(s.line), now)
		} else if s.pending != nil {
			o.publishState(s, *s.pending, now)
		}
	}
}

func (s *outputStream) add(b []byte) {
	room := maxLineBytes - len(s.line)
	if len(b) > room {
		s.cut += len(b) - room
		b = b[:room]
	}
	s.line = append(s.line, b...)
}

// rewrite handles a \r: the text so far is a state of the line, and what follows
// replaces it.
func (o *outputLines) rewrite(s *outputStream) {
	state := string(s.line)
	s.line, s.cut = s.line[:0], 0
	if state == "" {
		return
	}
	now := o.now()
	switch {
	case !s.open:
		o.publish(s, state, false)
		s.open, s.at, s.last = true, now, state
	case now.Sub(s.at) >= updateEvery:
		o.publishState(s, state, now)
	default:
		s.pending = &state
	}
}

// publishState publishes a newer state of an open line.
func (o *outputLines) publishState(s *outputStream, state string, now time.Time) {
	s.pending = nil
	if state == s.last {
		return
	}
	o.publish(s, state, true)
	s.at, s.last = now, state
}

// endLine handles a \n: a plain line is published; a rewritten line's final state is.
func (o *outputLines) endLine(s *outputStream) {
	text, cut := string(s.line), s.cut
	s.line, s.cut = s.line[:0], 0
	if !s.open {
		for _, m := range o.opts.messages(text, cut) {
			o.emit(client.Log{Level: s.level, Message: m, Progress: o.opts.progressOf(termtext.Clean(m, false)), Stream: s.name})
		}
		return
	}
	if text == "" && s.pending != nil {
		text = *s.pending
	} else if text == "" {
		text = s.last
	}
	s.open, s.pending = false, nil
	if text != s.last {
		o.publish(s, text, true)
	}
}

// publish sends one state of a rewritten line as one message (cut to the limit).
func (o *outputLines) publish(s *outputStream, state string, update bool) {
	m := o.opts.messages(state, 0)[0]
	if len(m) < len(state) && o.opts.longLines == longLinesSplit {
		m = (&lineOptions{maxBytes: o.opts.maxBytes, longLines: longLinesCut}).messages(state, 0)[0]
	}
	o.emit(client.Log{Level: s.level, Message: m, Progress: o.opts.progressOf(termtext.Clean(m, false)), Stream: s.name, Update: update})
}
