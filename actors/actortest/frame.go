package actortest

import (
	"encoding/json"
	"testing"
)

// Frame is any server-to-client frame of the WebSocket contract, decoded.
type Frame struct {
	Type      string  `json:"type"`
	TaskID    string  `json:"task_id"`
	Epoch     string  `json:"epoch"`
	LastSeq   uint64  `json:"last_seq"`
	Seq       uint64  `json:"seq"`
	Timestamp string  `json:"timestamp"`
	Level     string  `json:"level"`
	Message   string  `json:"message"`
	Progress  float64 `json:"progress"`
	Finished  bool    `json:"finished"`
	FromSeq   uint64  `json:"from_seq"`
	ToSeq     uint64  `json:"to_seq"`
	Reason    string  `json:"reason"`
}

// DecodeFrames decodes raw frames, failing t on any that is not valid JSON.
func DecodeFrames(t testing.TB, raw [][]byte) []Frame {
	t.Helper()
	out := make([]Frame, len(raw))
	for i, b := range raw {
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatalf("frame %d %q: %v", i, b, err)
		}
	}
	return out
}
