package wire

import (
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// The frames of the WebSocket contract (docs/design.md, "WebSocket frames") are encoded by
// hand: each is built once per message by its task actor and the same bytes go to every subscriber, so the encoder sits on the
// hot path. frame_test.go checks the output against encoding/json.

// timestampLayout is RFC 3339 in UTC with microseconds, as the contract shows.
const timestampLayout = "2006-01-02T15:04:05.000000Z07:00"

// frameScratch holds buffers to encode a frame in before it is copied out at its exact
// size: a frame lives in a task's history for as long as the task, so its capacity
// beyond its length would be memory held per retained message.
var frameScratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// LogFrame returns the log frame of e in a slice of its own. stamp is e's time as
// AppendTimestamp writes it: the entries of one publish share their time, so it is
// formatted once for all of them.
func LogFrame(e *v1.LogEntry, stamp []byte) []byte {
	bp := frameScratch.Get().(*[]byte)
	buf := appendLogFrameAt((*bp)[:0], e, stamp)
	frame := slices.Clone(buf)
	if cap(buf) <= 64<<10 { // keep the pool from holding on to a huge message's buffer
		*bp = buf
		frameScratch.Put(bp)
	}
	return frame
}

// AppendTimestamp appends the contract's timestamp of unixNano.
func AppendTimestamp(b []byte, unixNano int64) []byte {
	return time.Unix(0, unixNano).UTC().AppendFormat(b, timestampLayout)
}

func appendLogFrameAt(b []byte, e *v1.LogEntry, stamp []byte) []byte {
	b = append(b, `{"type":"log","task_id":`...)
	b = appendJSONString(b, e.TaskId)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"timestamp":"`...)
	if a := e.Attrs; a != nil && a.ProducedUnixNano != 0 { // the producer's time, and the server's beside it
		b = AppendTimestamp(b, a.ProducedUnixNano)
		b = append(b, `","received":"`...)
	}
	b = append(b, stamp...)
	b = append(b, `","level":"`...)
	b = append(b, LevelName(e.Level)...)
	b = append(b, `","message":`...)
	b = appendJSONString(b, e.Message)
	b = append(b, `,"progress":`...)
	b = strconv.AppendFloat(b, e.Progress, 'f', -1, 64)
	b = append(b, `,"finished":`...)
	b = strconv.AppendBool(b, e.Finished)
	if a := e.Attrs; a != nil {
		b = appendAttrs(b, a)
	}
	return append(b, '}')
}

var sectionNames = [...]string{v1.Section_SECTION_START: "start", v1.Section_SECTION_END: "end"}

// appendAttrs appends the fields of a message's attributes that are set.
func appendAttrs(b []byte, a *v1.LineAttrs) []byte {
	if a.Stream != "" {
		b = append(b, `,"stream":`...)
		b = appendJSONString(b, a.Stream)
	}
	if a.Update {
		b = append(b, `,"update":true`...)
	}
	if a.Section > 0 && int(a.Section) < len(sectionNames) {
		b = append(b, `,"section":"`...)
		b = append(b, sectionNames[a.Section]...)
		b = append(b, '"')
	}
	return b
}

// SectionNamed returns the section mark named s ("start", "end"), or SECTION_NONE.
func SectionNamed(s string) v1.Section {
	for i, name := range sectionNames {
		if name == s && name != "" {
			return v1.Section(i)
		}
	}
	return v1.Section_SECTION_NONE
}

// HelloFrame encodes the first frame of a connection.
func HelloFrame(h *v1.Hello) []byte {
	b := make([]byte, 0, 96+len(h.TaskId))
	b = append(b, `{"type":"hello","task_id":`...)
	b = appendJSONString(b, h.TaskId)
	b = append(b, `,"epoch":`...)
	b = appendJSONString(b, h.Epoch)
	b = append(b, `,"last_seq":`...)
	b = strconv.AppendUint(b, h.LastSeq, 10)
	b = append(b, `,"finished":`...)
	b = strconv.AppendBool(b, h.Finished)
	return append(b, '}')
}

var gapReasons = [...]string{
	v1.GapReason_GAP_REASON_TRIMMED:   "trimmed",
	v1.GapReason_GAP_REASON_HISTORY:   "history",
	v1.GapReason_GAP_REASON_EPOCH:     "epoch",
	v1.GapReason_GAP_REASON_RETENTION: "retention",
}

// GapFrame encodes a gap; to_seq is left out when the end of the range is unknown.
func GapFrame(g *v1.Gap) []byte {
	b := make([]byte, 0, 96+len(g.TaskId))
	b = append(b, `{"type":"gap","task_id":`...)
	b = appendJSONString(b, g.TaskId)
	b = append(b, `,"from_seq":`...)
	b = strconv.AppendUint(b, g.FromSeq, 10)
	if g.ToSeq != 0 {
		b = append(b, `,"to_seq":`...)
		b = strconv.AppendUint(b, g.ToSeq, 10)
	}
	b = append(b, `,"reason":"`...)
	b = append(b, gapReasons[g.Reason]...)
	return append(b, `"}`...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string with the escaping of encoding/json: quotes,
// backslashes and control characters, <, > and & (so a frame is safe to embed in HTML),
// U+2028 and U+2029, and invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
