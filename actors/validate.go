package actors

import (
	"fmt"

	"github.com/tasktail/tasktail/taskstate"
	"github.com/tasktail/tasktail/wire"
)

// The field rules live in package wire; here they meet the Manager's limits (Config).

// MaxTaskIDLength is the longest task_id the contract allows; Config.MaxTaskIDLength may
// lower it.
const MaxTaskIDLength = wire.MaxTaskIDLength

// ParseLevel returns the level named s.
var ParseLevel = wire.ParseLevel

// ValidateTaskID checks the task_id rule: 1 to Config.MaxTaskIDLength characters of
// [A-Za-z0-9._:-].
func (c *Config) ValidateTaskID(id string) error { return wire.ValidateTaskID(id, c.MaxTaskIDLength) }

// ValidateTaskIDPrefix checks a list's prefix: empty, or the start of a task_id that
// ValidateTaskID could accept.
func (c *Config) ValidateTaskIDPrefix(prefix string) error {
	return wire.ValidateTaskIDPrefix(prefix, c.MaxTaskIDLength)
}

// KeepProgress as a message's progress leaves the task's progress as it is: the message's
// frame carries the current value. (A publish body without "progress" means it.) It is
// no number a caller would pass by mistake.
const KeepProgress = taskstate.KeepProgress

// MaxKeyLength is the longest idempotency key accepted.
const MaxKeyLength = wire.MaxKeyLength

// ValidateKey checks an idempotency key: empty (none), or 1 to MaxKeyLength printable
// ASCII characters.
var ValidateKey = wire.ValidateKey

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
	if err := wire.CheckMessage(e.Level, e.Message, e.Progress, e.Progress != KeepProgress, c.MaxMessageBytes); err != nil {
		return err
	}
	if e.Finished && !last {
		return invalid("finished", "only the last entry of a batch may finish the task")
	}
	if e.Attrs != nil {
		return wire.CheckAttrs(e.Attrs)
	}
	return nil
}
