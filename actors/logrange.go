package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/tasktail/tasktail/internal/termtext"
	"github.com/tasktail/tasktail/journal"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/wire"
)

// LogPage is a range of a task's log: at most the asked number of log frames from a seq
// on, and the extent of what is stored, so that a viewer can page through it.
type LogPage struct {
	FirstSeq uint64 // the oldest seq stored (kept in memory, without a journal)
	LastSeq  uint64 // the task's last seq
	Frames   [][]byte
}

// LogRange returns the task's log frames with seq ≥ from, at most limit of them; from 0
// asks for the last limit. ErrNotFound for a task that does not exist.
func (m *Manager) LogRange(ctx context.Context, taskID string, from uint64, limit int) (LogPage, error) {
	var page LogPage
	if from == 0 { // the extent first
		first, last, _, err := m.walkLog(ctx, taskID, 0, nil)
		if err != nil {
			return page, err
		}
		from = first
		if last >= uint64(limit) {
			from = max(first, last-uint64(limit)+1)
		}
	}
	first, last, _, err := m.walkLog(ctx, taskID, from, func(it *logItem) bool {
		page.Frames = append(page.Frames, it.frame())
		return len(page.Frames) < limit
	})
	page.FirstSeq, page.LastSeq = first, last
	return page, err
}

// SearchResult is what a search of a task's log found: the seqs of the matching messages,
// and, when it stopped before the end (at its limit or its time budget), the seq to go on
// from.
type SearchResult struct {
	Seqs []uint64
	Next uint64 // 0: the search reached the end of the log
}

// SearchLog finds the messages with seq ≥ from, of minLevel or above (0: any), whose text
// (as shown: escape sequences removed) contains query, ignoring case, in the whole stored
// log; an empty query matches every message. It stops after limit matches, or once it
// has spent budget, saying where to go on.
func (m *Manager) SearchLog(ctx context.Context, taskID, query string, minLevel v1.Level, from uint64, limit int, budget time.Duration) (SearchResult, error) {
	var res SearchResult
	match := foldMatcher(query)
	deadline := time.Now().Add(budget)
	looked := 0
	_, _, _, err := m.walkLog(ctx, taskID, from, func(it *logItem) bool {
		if looked++; looked%1024 == 0 && time.Now().After(deadline) {
			res.Next = it.seq
			return false
		}
		if it.level >= minLevel && (query == "" || match(it.message)) {
			if res.Seqs = append(res.Seqs, it.seq); len(res.Seqs) == limit {
				res.Next = it.seq + 1
				return false
			}
		}
		return true
	})
	return res, err
}

// logItem is one message of a walk through a task's log; it is reused from one message to
// the next.
type logItem struct {
	seq     uint64
	level   v1.Level
	message string
	taskID  string
	entry   *journal.Entry // from the journal (held in read); nil for a frame from memory
	read    journal.Entry  // the entry read last: a copy here, not one on the heap per entry
	stored  []byte         // the frame kept in memory
	stamp   [40]byte
}

// frame is the message's log frame.
func (it *logItem) frame() []byte {
	if it.entry == nil {
		return it.stored
	}
	return entryFrame(it.taskID, *it.entry, it.stamp[:0])
}

// walkLog calls visit with every message of a task from seq from on, in order, until it
// answers false: with a journal, the stored entries; without, the frames the task's
// history holds. It returns the extent of what is stored, and with a journal the epoch
// it was read in; with visit nil, only the extent.
func (m *Manager) walkLog(ctx context.Context, taskID string, from uint64, visit func(*logItem) bool) (first, last uint64, epoch string, err error) {
	if err := m.cfg.ValidateTaskID(taskID); err != nil {
		return 0, 0, "", err
	}
	if m.store == nil {
		frames, err := m.retainedFrames(ctx, taskID)
		if err != nil {
			return 0, 0, "", err
		}
		for _, f := range frames {
			seq := frameSeq(f)
			if first == 0 {
				first = seq
			}
			last = seq
		}
		if visit == nil {
			return first, last, "", nil
		}
		it := &logItem{taskID: taskID}
		for _, f := range frames {
			if it.seq = frameSeq(f); it.seq >= from {
				it.level, it.message = frameText(f)
				if it.stored = f; ctx.Err() != nil || !visit(it) {
					break
				}
			}
		}
		return first, last, "", ctx.Err()
	}
	j := m.store.w.Journal()
	meta, found, err := j.Stat(taskID)
	if err != nil {
		return 0, 0, "", fmt.Errorf("%w: %v", ErrJournalUnavailable, err)
	} else if !found {
		return 0, 0, "", ErrNotFound
	}
	first, last = max(meta.FirstSeq, 1), meta.LastSeq
	if last == 0 {
		first = 0
	}
	if visit == nil {
		return first, last, meta.Epoch, nil
	}
	it := &logItem{taskID: taskID}
	err = j.Read(taskID, max(from, 1), func(e journal.Entry) bool {
		it.read = e
		it.seq, it.level, it.message, it.entry = e.Seq, e.Level, e.Message, &it.read
		return ctx.Err() == nil && visit(it)
	})
	if err != nil {
		return first, last, meta.Epoch, fmt.Errorf("%w: %v", ErrJournalUnavailable, err)
	}
	return first, last, meta.Epoch, ctx.Err()
}

// retainedFrames asks a task for the frames its history holds (a task without a journal).
func (m *Manager) retainedFrames(ctx context.Context, taskID string) ([][]byte, error) {
	frames, err := Ask[*v1.LogFrames](ctx, m, &v1.GetLog{TaskId: taskID})
	if err != nil {
		return nil, err
	}
	return frames.Frames, nil
}

// frameSeq reads the seq of a log frame wire.LogFrame made: `…,"seq":N,…` (a task_id
// holds no quote, so the first "seq" key is the frame's).
func frameSeq(frame []byte) uint64 {
	i := bytes.Index(frame, []byte(`,"seq":`))
	if i < 0 {
		return 0
	}
	rest := frame[i+len(`,"seq":`):]
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0
	}
	seq, _ := strconv.ParseUint(string(rest[:end]), 10, 64)
	return seq
}

// frameText reads a log frame's level and message.
func frameText(frame []byte) (v1.Level, string) {
	var f struct {
		Level   string `json:"level"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(frame, &f) // frames are ours: valid JSON
	return wire.LevelNamed(f.Level), f.Message
}

// foldMatcher returns a test of whether a message, as shown (escapes removed), contains
// query regardless of case. A message with escapes is cleaned into one buffer the test
// reuses: it is for one goroutine.
func foldMatcher(query string) func(string) bool {
	lower := strings.ToLower(query)
	ascii := isASCII(lower)
	var buf []byte
	return func(message string) bool {
		if needsCleaning(message) {
			buf = termtext.AppendClean(buf[:0], message, false)
			message = unsafe.String(unsafe.SliceData(buf), len(buf)) // read only, before buf is written again
		}
		if !ascii {
			return strings.Contains(strings.ToLower(message), lower)
		}
		return indexFoldASCII(message, lower) >= 0
	}
}

// indexByteFrom is the index of the first c in s at or after from, or len(s).
func indexByteFrom(s string, c byte, from int) int {
	if k := strings.IndexByte(s[from:], c); k >= 0 {
		return from + k
	}
	return len(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// needsCleaning reports whether s has a byte Clean may act on: a control character but
// tab, DEL, or 0xc2 (which starts a C1 control). It reads eight bytes at a time: a word
// of printable ASCII (0x20-0x7e) passes at once, any other is looked at byte by byte.
func needsCleaning(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A high bit is set where a byte is below 0x20 (the first such byte at least), or
		// 0x7f and above.
		if ((w-0x20*ones)&^w|(w+ones)|w)&highs != 0 && needsCleaningBytes(s[i:i+8]) {
			return true
		}
	}
	return needsCleaningBytes(s[i:])
}

// needsCleaningBytes is needsCleaning a byte at a time.
func needsCleaningBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f || c == 0xc2 {
			return true
		}
	}
	return false
}

// indexFoldASCII finds lower (lower-case ASCII) in s, ignoring the case of ASCII letters,
// without allocating. Candidates are found with strings.IndexByte (vectorized), for the
// first byte in each case, each looked for again only once passed.
func indexFoldASCII(s, lower string) int {
	if lower == "" {
		return 0
	}
	first := lower[0]
	upper := first
	if 'a' <= first && first <= 'z' {
		upper -= 'a' - 'A'
	}
	end := len(s) - len(lower) + 1 // candidates start before end
	if end <= 0 {
		return -1
	}
	nextLower, nextUpper := -1, -1 // the next candidate of each case at or after i; -1 not yet looked for
	if upper == first {
		nextUpper = end // none: one IndexByte does
	}
	for i := 0; i < end; i++ {
		if nextLower < i {
			nextLower = indexByteFrom(s[:end], first, i)
		}
		if nextUpper < i {
			nextUpper = indexByteFrom(s[:end], upper, i)
		}
		if i = min(nextLower, nextUpper); i >= end {
			return -1
		}
		j := 1
		for ; j < len(lower); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == len(lower) {
			return i
		}
	}
	return -1
}
