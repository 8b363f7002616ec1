package wire

import (
	"encoding/json"
	"flag"
	"os"
	"testing"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

var update = flag.Bool("update", false, "write the golden files from what the code makes")

// The API's status JSON, byte for byte, for a task on a cluster member and for a task
// only the journal holds (zero fields, no member, no activity): clients parse it, so a
// change shows here first. go test ./wire -run Golden -update rewrites the file.
func TestStatusJSONGolden(t *testing.T) {
	statuses := []*v1.Status{
		{TaskId: "import-42", Found: true, Epoch: "k3x9", Connected: true, Subscribers: 2, Queued: 0, LastSeq: 58,
			Progress: 40.5, Member: "10.0.0.7:7400", LastActiveUnixNano: 1_764_000_000_123_456_789},
		{TaskId: "report:7", Found: true, Epoch: "e1", LastSeq: 3, Progress: 100, Finished: true, Failed: true},
		{TaskId: "tiny", Found: true, Progress: 1e-7},
	}
	var got []byte
	for _, st := range statuses {
		got = append(AppendStatus(got, st), '\n')
	}
	const golden = "testdata/status.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("status JSON changed:\n got %s\nwant %s", got, want)
	}
}

// Every field of v1.Status reaches the JSON, under its proto name (found and the
// activity time's raw number aside): a field added to the message needs no other change.
func TestStatusJSONHasEveryField(t *testing.T) {
	st := &v1.Status{TaskId: "t", LastActiveUnixNano: 1, Member: "m"}
	var obj map[string]any
	if err := json.Unmarshal(AppendStatus(nil, st), &obj); err != nil {
		t.Fatal(err)
	}
	fields := st.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		name := string(fields.Get(i).Name())
		switch name {
		case "found":
			name = ""
		case "last_active_unix_nano":
			name = "last_active"
		}
		if _, ok := obj[name]; name != "" && !ok {
			t.Errorf("field %s is not in the status JSON %v", name, obj)
		}
	}
	if obj["state"] != "running" {
		t.Errorf("state = %v", obj["state"])
	}
}
