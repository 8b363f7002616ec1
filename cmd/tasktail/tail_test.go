package main

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tasktail/tasktail/client"
)

func TestPrinterOnATerminalColoursAndDrawsTheBar(t *testing.T) {
	var out, notes bytes.Buffer
	p := &printer{out: bufio.NewWriter(&out), notes: &notes, terminal: true, colour: true}
	ts := time.Date(2026, 11, 21, 10, 0, 0, 0, time.Local)
	p.event(client.Event{Type: "log", Timestamp: ts, Level: client.Error, Message: "disk full", Progress: 40})
	p.event(client.Event{Type: "gap", FromSeq: 3, ToSeq: 52, Reason: "trimmed"})
	p.finish()
	got := out.String()
	for _, want := range []string{
		"10:00:00.000 \x1b[31merror   \x1b[0m  40% disk full\n", // coloured level
		"[############..................]  40%",                 // the bar after the line
		"\r\x1b[2K… 50 messages not shown (trimmed)\n",          // the bar cleared before the next line
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
	if !strings.HasSuffix(got, "]  40%\n") {
		t.Errorf("output %q: the final bar should stay on its own line", got)
	}
}

func TestPrinterWhenPipedIsPlain(t *testing.T) {
	var out bytes.Buffer
	p := newPrinter(&out, &out, false, false) // a bytes.Buffer is no terminal
	p.event(client.Event{Type: "log", Timestamp: time.Now(), Level: client.Warning, Message: "slow", Progress: 5})
	p.finish()
	if got := out.String(); strings.Contains(got, "\x1b") || strings.Contains(got, "[#") || !strings.Contains(got, "warning    5% slow") {
		t.Fatalf("piped output %q", got)
	}
}

// Section markers print as headers (GitHub, GitLab, Buildkite, the explicit field), and
// end markers print nothing.
func TestPrinterPrintsSectionHeaders(t *testing.T) {
	var out bytes.Buffer
	p := newPrinter(&out, &out, false, false)
	ts := time.Date(2026, 11, 21, 10, 0, 0, 0, time.Local)
	for _, ev := range []client.Event{
		{Message: "::group::Install"}, {Message: "npm ci"}, {Message: "::endgroup::"},
		{Message: "\x1b[0Ksection_start:1700000000:compile[collapsed=true]\r\x1b[0KCompile"},
		{Message: "\x1b[0Ksection_end:1700000003:compile\r\x1b[0K"},
		{Message: "+++ Run tests"}, {Message: "Report", Section: client.SectionStart}, {Message: "", Section: client.SectionEnd},
		{Message: "----- not a header"},
	} {
		ev.Type, ev.Timestamp, ev.Level = "log", ts, client.Info
		p.event(ev)
	}
	p.finish()
	want := "10:00:00.000 ▶ Install\n10:00:00.000 info       0% npm ci\n10:00:00.000 ▶ Compile\n10:00:00.000 ▶ Run tests\n" +
		"10:00:00.000 ▶ Report\n10:00:00.000 info       0% ----- not a header\n"
	if got := out.String(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
