package actortest

import (
	"testing"

	"github.com/tasktail/tasktail/client"
)

// DecodeFrames decodes raw frames with the Go client's decoder, failing t on any that is
// not a valid frame.
func DecodeFrames(t testing.TB, raw [][]byte) []client.Event {
	t.Helper()
	out := make([]client.Event, len(raw))
	for i, b := range raw {
		ev, err := client.ParseEvent(b)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		out[i] = ev
	}
	return out
}
