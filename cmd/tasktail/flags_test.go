package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestEnvironmentSetsFlagsAndCommandLineWins(t *testing.T) {
	t.Setenv("TASKTAIL_QUEUE_LIMIT", "7")
	t.Setenv("TASKTAIL_IDLE_TTL", "3m")
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	limit := fs.Int("queue-limit", 100, "")
	ttl := fs.Duration("idle-ttl", time.Hour, "")
	addr := fs.String("addr", "127.0.0.1:8080", "")
	if err := parseWithEnv(fs, []string{"--idle-ttl", "5s"}); err != nil {
		t.Fatal(err)
	}
	if *limit != 7 || *ttl != 5*time.Second || *addr != "127.0.0.1:8080" {
		t.Fatalf("queue-limit %d, idle-ttl %v, addr %s", *limit, *ttl, *addr)
	}
}

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
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--help"}, io.Discard, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, v := range []string{"TASKTAIL_ADDR", "TASKTAIL_QUEUE_LIMIT", "TASKTAIL_QUEUE_KEEP", "TASKTAIL_HISTORY_LIMIT",
		"TASKTAIL_MAX_MESSAGE_BYTES", "TASKTAIL_FINISHED_TTL", "TASKTAIL_IDLE_TTL", "TASKTAIL_SOCKET_BUFFER", "TASKTAIL_WRITE_TIMEOUT"} {
		if !strings.Contains(stderr.String(), v) {
			t.Errorf("help does not mention %s", v)
		}
	}
}
