package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestBadEnvironmentIsAUsageError(t *testing.T) {
	t.Setenv("TASKTAIL_QUEUE_LIMIT", "many")
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve"}, io.Discard, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "TASKTAIL_QUEUE_LIMIT") {
		t.Fatalf("stderr %q does not name the variable", stderr.String())
	}
}

func TestContradictorySettingsAreRefused(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--queue-limit", "200", "--history-limit", "100"}, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "history limit") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestServeHelpNamesEveryVariable(t *testing.T) {
	var stderr bytes.Buffer // help goes to stdout
	if code := run(context.Background(), []string{"serve", "--help"}, &stderr, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, v := range []string{"TASKTAIL_ADDR", "TASKTAIL_QUEUE_LIMIT", "TASKTAIL_QUEUE_KEEP", "TASKTAIL_HISTORY_LIMIT",
		"TASKTAIL_MAX_MESSAGE_BYTES", "TASKTAIL_FINISHED_TTL", "TASKTAIL_IDLE_TTL", "TASKTAIL_SOCKET_BUFFER", "TASKTAIL_WRITE_TIMEOUT"} {
		if !strings.Contains(stderr.String(), v) {
			t.Errorf("help does not mention %s", v)
		}
	}
}

// The operator guide's settings tables and `serve --help` come from the same defaults: every flag
// of serve is in a table with its variable and default, and every table row is a flag.
func TestReadmeSettingsMatchServeHelp(t *testing.T) {
	var stderr bytes.Buffer // help goes to stdout
	if code := run(context.Background(), []string{"serve", "--help"}, &stderr, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	type setting struct{ env, def string }
	help := map[string]setting{}
	flagLine := regexp.MustCompile(`^  --([a-z0-9-]+) \((TASKTAIL_[A-Z0-9_]+)\)$`)
	lines := strings.Split(stderr.String(), "\n")
	for i, line := range lines {
		m := flagLine.FindStringSubmatch(line)
		if m == nil || i+1 == len(lines) {
			continue
		}
		def := ""
		if d := regexp.MustCompile(`\(default ([^()]+)\)$`).FindStringSubmatch(lines[i+1]); d != nil {
			def = d[1]
		}
		help[m[1]] = setting{env: m[2], def: def}
	}
	readme, err := os.ReadFile("../../docs/operator-guide.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\| `(TASKTAIL_[A-Z0-9_]+)` \\| ([^|]+) \\|")
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		name, env, def := m[1], m[2], strings.Trim(strings.TrimSpace(m[3]), "`")
		documented[name] = true
		h, ok := help[name]
		switch {
		case !ok:
			t.Errorf("the operator guide lists --%s, which serve does not have", name)
		case h.env != env:
			t.Errorf("the operator guide names --%s's variable %s, serve %s", name, env, h.env)
		case !sameDefault(def, h.def):
			t.Errorf("the operator guide says --%s defaults to %q, serve --help %q", name, def, h.def)
		}
	}
	for name := range help {
		if !documented[name] {
			t.Errorf("serve --%s is in no settings table of the operator guide", name)
		}
	}
}

// sameDefault compares a documented default with one serve --help prints: durations by value,
// and "none", "off", "false" or a placeholder for no default.
func sameDefault(readme, help string) bool {
	if readme == help {
		return true
	}
	if a, err := time.ParseDuration(readme); err == nil {
		b, err := time.ParseDuration(help)
		return err == nil && a == b
	}
	switch readme {
	case "none", "off", "false", "host:port":
		return help == ""
	}
	return false
}

// A cluster member keeps tasks in memory: the default, node-local journal is refused with
// the flag that allows it.
func TestClusterNeedsTheMemoryJournal(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--cluster", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--journal postgres") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

// --cluster-local-journal lets a member keep the node-local journal: the journal check
// passes and the next setting (here a provider that does not exist) is the one refused.
func TestClusterLocalJournalIsAllowedOnRequest(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--cluster", "--cluster-local-journal", "--cluster-provider", "consul",
		"--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), `cluster provider "consul"`) || strings.Contains(stderr.String(), "--journal") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}
