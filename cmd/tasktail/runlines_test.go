package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tasktail/tasktail/client"
)

// fakeLines is outputLines on a clock the test moves.
func fakeLines() (*outputLines, *[]client.Log, *time.Time) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	var got []client.Log
	o := &outputLines{
		opts: &lineOptions{maxBytes: 64 << 10, longLines: longLinesSplit, progress: regexp.MustCompile(`(\d+)%`)},
		now:  func() time.Time { return now },
		emit: func(l client.Log) { got = append(got, l) },
	}
	return o, &got, &now
}

func describe(logs []client.Log) string {
	var b strings.Builder
	for _, l := range logs {
		fmt.Fprintf(&b, "%s|%q|%v|%v;", l.Stream, l.Message, l.Update, l.Progress)
	}
	return b.String()
}

func TestOutputLinesPlainLinesAcrossChunks(t *testing.T) {
	o, got, _ := fakeLines()
	s := &outputStream{name: "stdout", level: client.Info}
	o.feed(s, []byte("first\nsec"))
	o.feed(s, []byte("ond\r"))
	o.feed(s, []byte("\nthird, 40% done\n\nlast"))
	o.end(s)
	want := `stdout|"first"|false|-1.7976931348623157e+308;stdout|"second"|false|-1.7976931348623157e+308;` +
		`stdout|"third, 40% done"|false|40;stdout|""|false|-1.7976931348623157e+308;stdout|"last"|false|-1.7976931348623157e+308;`
	if d := describe(*got); d != want {
		t.Fatalf("got  %s\nwant %s", d, want)
	}
}

// A bar redrawn 100 times in 2 s: its first state, then at most one state per
// updateEvery (with the newest when its turn comes), then its final state.
func TestOutputLinesProgressBarIsOneLineThatUpdates(t *testing.T) {
	o, got, now := fakeLines()
	s := &outputStream{name: "stderr", level: client.Info}
	o.feed(s, []byte("Downloading\n"))
	for i := 1; i <= 100; i++ {
		o.feed(s, []byte(fmt.Sprintf("\r%3d%%|%s|\x1b[K", i, strings.Repeat("#", i/10))))
		*now = now.Add(20 * time.Millisecond)
		o.tick(s)
	}
	o.feed(s, []byte("\n"))
	o.feed(s, []byte("after\n"))
	logs := *got
	if logs[0].Message != "Downloading" || logs[0].Update {
		t.Fatalf("first line %+v", logs[0])
	}
	bar := logs[1 : len(logs)-1]
	if bar[0].Update || bar[0].Progress != 1 {
		t.Fatalf("the bar's first state %+v: want a new line at 1%%", bar[0])
	}
	if n := len(bar); n > int(2*time.Second/updateEvery)+2 {
		t.Fatalf("%d messages for a bar of 2 s: %s", n, describe(bar))
	}
	for i, l := range bar[1:] {
		if !l.Update || l.Stream != "stderr" || l.Progress <= bar[i].Progress {
			t.Fatalf("state %d: %+v after %+v", i+2, l, bar[i])
		}
	}
	if final := bar[len(bar)-1]; final.Progress != 100 || !strings.HasPrefix(final.Message, "100%|##########|") {
		t.Fatalf("final state %+v", final)
	}
	if after := logs[len(logs)-1]; after.Message != "after" || after.Update {
		t.Fatalf("the line after the bar %+v", after)
	}
}

// A state that waited for its turn is published by tick, even if the bar then stalls.
func TestOutputLinesStalledBarShowsItsNewestState(t *testing.T) {
	o, got, now := fakeLines()
	s := &outputStream{name: "stdout", level: client.Info}
	o.feed(s, []byte("\r10%\r20%\r30%"))
	o.feed(s, []byte("\r")) // 30% is a state once the next \r comes
	if d := describe(*got); d != `stdout|"10%"|false|10;` {
		t.Fatalf("before its turn: %s", d)
	}
	*now = now.Add(updateEvery)
	o.tick(s)
	if d := describe(*got); d != `stdout|"10%"|false|10;stdout|"30%"|true|30;` {
		t.Fatalf("after its turn: %s", d)
	}
	o.feed(s, []byte("\n")) // nothing after the last \r: the final state is the last one shown
	o.end(s)
	if len(*got) != 2 {
		t.Fatalf("the same final state published again: %s", describe(*got))
	}
}
