package wire

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// The field rules of the contract (docs/design.md, "Field rules"), checked here once for
// every way in: the HTTP decoders, the Go API and a call that crossed cluster members.

// ErrTooLarge is wrapped by an InvalidError that breaks a size limit (a message, a batch,
// a body): errors.Is tells it from other broken rules.
var ErrTooLarge = errors.New("too large")

// InvalidError reports a field that breaks the contract's field rules.
type InvalidError struct {
	Field  string // JSON name of the field, e.g. "level" or "[3].progress"
	Reason string
	// Limit is ErrTooLarge when the rule broken is a size limit, else nil.
	Limit error
}

func (e *InvalidError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Unwrap returns ErrTooLarge for a broken size limit.
func (e *InvalidError) Unwrap() error { return e.Limit }

// TooLarge returns the error of a field that breaks a size limit.
func TooLarge(field, reason string) *InvalidError {
	return &InvalidError{Field: field, Reason: reason, Limit: ErrTooLarge}
}

// Invalid returns the error of a field that breaks a rule other than a size limit.
func Invalid(field, reason string) *InvalidError {
	return &InvalidError{Field: field, Reason: reason}
}

// Invalidf is Invalid with the reason formatted.
func Invalidf(field, format string, args ...any) *InvalidError {
	return Invalid(field, fmt.Sprintf(format, args...))
}

// MaxTaskIDLength is the longest task_id the contract allows; a server may lower it.
const MaxTaskIDLength = 128

// ParseLevel returns the level named s.
func ParseLevel(s string) (v1.Level, error) {
	if l := LevelNamed(s); l != 0 {
		return l, nil
	}
	return 0, Invalid("level", "must be one of "+LevelList)
}

// ValidateTaskID checks the task_id rule: 1 to maxLen characters of [A-Za-z0-9._:-],
// neither "." nor "..".
func ValidateTaskID(id string, maxLen int) error {
	if id == "" || len(id) > maxLen {
		return Invalidf("task_id", "must be 1-%d characters", maxLen)
	}
	if !taskIDChars(id) {
		return Invalid("task_id", "may contain only letters, digits and . _ : -")
	}
	if id == "." || id == ".." {
		// A URL path normalises them away: no viewer could open the task.
		return Invalid("task_id", "must not be . or ..")
	}
	return nil
}

// ValidateTaskIDPrefix checks a list's prefix: empty, or the start of a task_id that
// ValidateTaskID could accept. Anything else matches no task, and is refused rather than
// sent to the journal.
func ValidateTaskIDPrefix(prefix string, maxLen int) error {
	if len(prefix) > maxLen || !taskIDChars(prefix) {
		return Invalidf("prefix", "must be at most %d characters, each a letter, a digit or . _ : -", maxLen)
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

// MaxKeyLength is the longest idempotency key accepted.
const MaxKeyLength = 128

// ValidateKey checks an idempotency key: empty (none), or 1 to MaxKeyLength printable
// ASCII characters.
func ValidateKey(key string) error {
	if len(key) > MaxKeyLength {
		return Invalidf("idempotency_key", "longer than %d characters", MaxKeyLength)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return Invalid("idempotency_key", "may contain only printable ASCII without spaces")
		}
	}
	return nil
}

// CheckMessage checks a message's level, text and progress; maxBytes bounds the text.
// hasProgress is false for a message without one (the task's progress stays).
func CheckMessage(level v1.Level, message string, progress float64, hasProgress bool, maxBytes int) *InvalidError {
	if LevelName(level) == "" {
		return Invalid("level", "must be one of "+LevelList)
	}
	if !utf8.ValidString(message) {
		return Invalid("message", "must be valid UTF-8")
	}
	if len(message) > maxBytes {
		return TooLarge("message", fmt.Sprintf("longer than %d bytes", maxBytes))
	}
	// NaN fails both comparisons, so it is refused too.
	if hasProgress && !(progress >= 0 && progress <= 100) {
		return Invalid("progress", "must be a number from 0 to 100")
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

// CheckAttrs checks a message's attributes: a stream name of 1 to MaxStreamLength
// characters of [A-Za-z0-9._:-], a known section mark, and a producer's time within the
// bounded skew.
func CheckAttrs(a *v1.LineAttrs) *InvalidError {
	if len(a.Stream) > MaxStreamLength {
		return Invalidf("stream", "longer than %d characters", MaxStreamLength)
	}
	for i := 0; i < len(a.Stream); i++ {
		if !idChar(a.Stream[i]) {
			return Invalid("stream", "may contain only letters, digits and . _ : -")
		}
	}
	if a.Section < 0 || a.Section > v1.Section_SECTION_END {
		return Invalid("section", "must be start or end")
	}
	if at := a.ProducedUnixNano; at != 0 {
		now := time.Now()
		if at > now.Add(MaxTimestampAhead).UnixNano() || at < now.Add(-MaxTimestampBehind).UnixNano() {
			return Invalidf("timestamp", "must be within %v ahead of the server's clock and %v behind it", MaxTimestampAhead, MaxTimestampBehind)
		}
	}
	return nil
}
