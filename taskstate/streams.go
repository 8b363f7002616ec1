package taskstate

import (
	"slices"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// MaxStreams is how many stream names a task keeps. A message that names another stream
// once a task has MaxStreams is stored under OtherStream: a viewer's stream filter stays
// short, and no producer's line is refused for its stream's sake.
const MaxStreams = 16

// OtherStream is the stream of messages whose own stream came past MaxStreams.
const OtherStream = "other"

// streamOf returns attrs with the stream the task stores it under, and the task's stream
// names after it (names grows by a new one, never in place: it may be the state's).
func streamOf(names []string, attrs *v1.LineAttrs) (*v1.LineAttrs, []string) {
	if attrs == nil || attrs.Stream == "" || attrs.Stream == OtherStream || slices.Contains(names, attrs.Stream) {
		return attrs, names
	}
	if len(names) < MaxStreams {
		return attrs, append(slices.Clip(names), attrs.Stream)
	}
	folded := &v1.LineAttrs{Stream: OtherStream, Update: attrs.Update, Section: attrs.Section, ProducedUnixNano: attrs.ProducedUnixNano}
	return folded, names
}
