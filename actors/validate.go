package actors

import (
	"fmt"
	"time"
	"unicode/utf8"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
	"github.com/tasktail/tasktail/taskstate"
	"github.com/tasktail/tasktail/wire"
)

// MaxTaskIDLength is the longest task_id the contract allows; Config.MaxTaskIDLength may
// lower it.
const MaxTaskIDLength = 128

// ParseLevel returns the level named s.
func ParseLevel(s string) (v1.Level, error) {
	if l := wire.LevelNamed(s); l != 0 {
		return l, nil
	}
	return 0, invalid("level", "must be one of "+wire.LevelList)
}

// ValidateTaskID checks the task_id rule: 1 to MaxTaskIDLength characters of
// [A-Za-z0-9._:-].
func (c *Config) ValidateTaskID(id string) error {
	if id == "" || len(id) > c.MaxTaskIDLength {
		return invalid("task_id", "must be 1-%d characters", c.MaxTaskIDLength)
	}
	if !taskIDChars(id) {
		return invalid("task_id", "may contain only letters, digits and . _ : -")
	}
	if id == "." || id == ".." {
		// A URL path normalises them away: no viewer could open the task.
		return invalid("task_id", "must not be . or ..")
	}
	return nil
}

// ValidateTaskIDPrefix checks a list's prefix: empty, or the start of a task_id that
// ValidateTaskID could accept. Anything else matches no task, and is refused rather than
// sent to the journal.
func (c *Config) ValidateTaskIDPrefix(prefix string) error {
	if len(prefix) > c.MaxTaskIDLength || !taskIDChars(prefix) {
		return invalid("prefix", "must be at most %d characters, each a letter, a digit or . _ : -", c.MaxTaskIDLength)
	}
	return nil
}

// taskIDChars reports whether s holds only task_id characters.
func taskIDChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !idChar(s[i]) {
			return false
		}
	}
	return true
}

// idChar reports whether c may stand in a task_id or a stream name.
func idChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
}

// KeepProgress as a message's progress leaves the task's progress as it is: the message's
// frame carries the current value. (A publish body without "progress" means it.) It is
// no number a caller would pass by mistake.
const KeepProgress = taskstate.KeepProgress

// MaxKeyLength is the longest idempotency key accepted.
const MaxKeyLength = 128

// ValidateKey checks an idempotency key: empty (none), or 1 to MaxKeyLength printable
// ASCII characters.
func ValidateKey(key string) error {
	if len(key) > MaxKeyLength {
		return invalid("idempotency_key", "longer than %d characters", MaxKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return invalid("idempotency_key", "may contain only printable ASCII without spaces")
		}
	}
	return nil
}

// validateEntries checks a publish against the field rules and limits of c; field names in
// the error carry the entry's index when there is more than one.
func validateEntries(c *Config, entries []logEntry) error {
	if len(entries) == 0 {
		return invalid("entries", "must not be empty")
	}
	if len(entries) > c.MaxBatch {
		return tooLarge("entries", "more than %d in one batch", c.MaxBatch)
	}
	for i, e := range entries {
		if err := checkEntry(c, e, i == len(entries)-1); err != nil {
			if len(entries) > 1 { // the field's name is built only for an error
				err.Field = fmt.Sprintf("[%d].%s", i, err.Field)
			}
			return err
		}
	}
	return nil
}

func checkEntry(c *Config, e logEntry, last bool) *InvalidError {
	if wire.LevelName(e.Level) == "" {
		return invalid("level", "must be one of "+wire.LevelList)
	}
	if !utf8.ValidString(e.Message) {
		return invalid("message", "must be valid UTF-8")
	}
	if len(e.Message) > c.MaxMessageBytes {
		return tooLarge("message", "longer than %d bytes", c.MaxMessageBytes)
	}
	// NaN fails both comparisons, so it is refused too.
	if p := e.Progress; p != KeepProgress && !(p >= 0 && p <= 100) {
		return invalid("progress", "must be a number from 0 to 100")
	}
	if e.Finished && !last {
		return invalid("finished", "only the last entry of a batch may finish the task")
	}
	if e.Attrs != nil {
		return checkAttrs(e.Attrs)
	}
	return nil
}

// MaxStreamLength is the longest stream name accepted.
const MaxStreamLength = 32

// Timestamps a producer gives may be this far ahead of the server's clock (clocks
// disagree), or this far behind it (a back-filled log).
const (
	MaxTimestampAhead  = time.Minute
	MaxTimestampBehind = 30 * 24 * time.Hour
)

// checkAttrs checks a message's attributes: a stream name of 1 to MaxStreamLength
// characters of [A-Za-z0-9._:-], a known section mark, and a producer's time within the
// bounded skew.
func checkAttrs(a *v1.LineAttrs) *InvalidError {
	if len(a.Stream) > MaxStreamLength {
		return invalid("stream", "longer than %d characters", MaxStreamLength)
	}
	for i := 0; i < len(a.Stream); i++ {
		if !idChar(a.Stream[i]) {
			return invalid("stream", "may contain only letters, digits and . _ : -")
		}
	}
	if a.Section < 0 || a.Section > v1.Section_SECTION_END {
		return invalid("section", "must be start or end")
	}
	if at := a.ProducedUnixNano; at != 0 {
		now := time.Now()
		if at > now.Add(MaxTimestampAhead).UnixNano() || at < now.Add(-MaxTimestampBehind).UnixNano() {
			return invalid("timestamp", "must be within %v ahead of the server's clock and %v behind it", MaxTimestampAhead, MaxTimestampBehind)
		}
	}
	return nil
}
