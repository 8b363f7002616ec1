package record

import (
	"reflect"
	"testing"

	"github.com/tasktail/tasktail/journal"

	"google.golang.org/protobuf/proto"

	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// A chunk keeps each entry's attributes; a chunk without any is written as before them,
// so plain logs cost no more than they did.
func TestChunkKeepsAttributes(t *testing.T) {
	entries := []journal.Entry{
		{Seq: 7, TimeUnixNano: 100, Level: v1.Level_LEVEL_INFO, Message: "plain", Progress: 1},
		{Seq: 8, TimeUnixNano: 101, Level: v1.Level_LEVEL_WARNING, Message: "err", Attrs: &v1.LineAttrs{Stream: "stderr"}},
		{Seq: 9, TimeUnixNano: 102, Level: v1.Level_LEVEL_INFO, Message: "50%", Attrs: &v1.LineAttrs{Stream: "stdout", Update: true}},
		{Seq: 10, TimeUnixNano: 103, Level: v1.Level_LEVEL_INFO, Message: "Build", Attrs: &v1.LineAttrs{Section: v1.Section_SECTION_START, ProducedUnixNano: -5}},
		{Seq: 11, TimeUnixNano: 104, Level: v1.Level_LEVEL_INFO, Message: "", Finished: true, Attrs: &v1.LineAttrs{Section: v1.Section_SECTION_END, ProducedUnixNano: 99}},
	}
	for _, shared := range []bool{false, true} {
		var got []journal.Entry
		if err := DecodeChunk(AppendChunk(nil, entries), 7, shared, func(e journal.Entry) bool { got = append(got, e); return true }); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(entries) {
			t.Fatalf("shared %v: decoded %d entries, want %d", shared, len(got), len(entries))
		}
		for i := range entries {
			want, e := entries[i], got[i]
			if !proto.Equal(want.Attrs, e.Attrs) || (want.Attrs == nil) != (e.Attrs == nil) {
				t.Errorf("shared %v: entry %d attrs %v, want %v", shared, i, e.Attrs, want.Attrs)
			}
			want.Attrs, e.Attrs = nil, nil
			if want != e {
				t.Errorf("shared %v: entry %d = %+v, want %+v", shared, i, e, want)
			}
		}
	}
	plain := AppendChunk(nil, entries[:1])
	if plain[0] != plainChunks {
		t.Errorf("a chunk without attributes has version %d, want %d", plain[0], plainChunks)
	}
}

func TestMetaKeepsStreams(t *testing.T) {
	m := journal.Meta{Epoch: "e", LastSeq: 3, Keys: 2, Streams: []string{"stdout", "stderr", "step:build"}}
	got, err := DecodeMeta(AppendMeta(nil, m))
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("DecodeMeta = %+v, %v; want %+v", got, err, m)
	}
}
