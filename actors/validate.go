package actors

import (
	"fmt"
	"unicode/utf8"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// MaxTaskIDLength is the longest task_id the contract allows; Config.MaxTaskIDLength may
// lower it.
const MaxTaskIDLength = 128

var levelNames = [...]string{
	v1.Level_LEVEL_DEBUG:    "debug",
	v1.Level_LEVEL_INFO:     "info",
	v1.Level_LEVEL_SUCCESS:  "success",
	v1.Level_LEVEL_WARNING:  "warning",
	v1.Level_LEVEL_ERROR:    "error",
	v1.Level_LEVEL_CRITICAL: "critical",
}

// LevelName returns the wire name of l ("info", "error", …), or "" for an unknown level.
func LevelName(l v1.Level) string {
	if l <= 0 || int(l) >= len(levelNames) {
		return ""
	}
	return levelNames[l]
}

// ParseLevel returns the level named s.
func ParseLevel(s string) (v1.Level, error) {
	if l := LevelNamed(s); l != 0 {
		return l, nil
	}
	return 0, invalid("level", "must be one of debug info success warning error critical")
}

// LevelNamed returns the level called name, or 0 for none. It takes bytes too, so that a
// decoder can look a level up without allocating a string.
func LevelNamed[S ~string | ~[]byte](name S) v1.Level {
	for l, level := range levelNames {
		if level != "" && string(name) == level {
			return v1.Level(l)
		}
	}
	return 0
}

// ValidateTaskID checks the task_id rule: 1 to MaxTaskIDLength characters of
// [A-Za-z0-9._:-].
func (c *Config) ValidateTaskID(id string) error {
	if id == "" || len(id) > c.MaxTaskIDLength {
		return invalid("task_id", "must be 1-%d characters", c.MaxTaskIDLength)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return invalid("task_id", "may contain only letters, digits and . _ : -")
		}
	}
	return nil
}

// ValidateEntries checks a publish against the field rules and limits of c; field names in
// the error carry the entry's index when there is more than one.
func (c *Config) ValidateEntries(entries []*v1.LogInput) error {
	return validateEntries(c, entries)
}

func validateEntries[E logLike](c *Config, entries []E) error {
	if len(entries) == 0 {
		return invalid("entries", "must not be empty")
	}
	if len(entries) > c.MaxBatch {
		err := invalid("entries", "more than %d in one batch", c.MaxBatch)
		err.TooLarge = true
		return err
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

func checkEntry[E logLike](c *Config, e E, last bool) *InvalidError {
	if LevelName(e.GetLevel()) == "" {
		return invalid("level", "must be one of debug info success warning error critical")
	}
	if !utf8.ValidString(e.GetMessage()) {
		return invalid("message", "must be valid UTF-8")
	}
	if len(e.GetMessage()) > c.MaxMessageBytes {
		err := invalid("message", "longer than %d bytes", c.MaxMessageBytes)
		err.TooLarge = true
		return err
	}
	// NaN fails both comparisons, so it is refused too.
	if p := e.GetProgress(); !(p >= 0 && p <= 100) {
		return invalid("progress", "must be a number from 0 to 100")
	}
	if e.GetFinished() && !last {
		return invalid("finished", "only the last entry of a batch may finish the task")
	}
	return nil
}
