package cli

import (
	"flag"
	"io"
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
	if err := ParseWithEnv(fs, []string{"--idle-ttl", "5s"}); err != nil {
		t.Fatal(err)
	}
	if *limit != 7 || *ttl != 5*time.Second || *addr != "127.0.0.1:8080" {
		t.Fatalf("queue-limit %d, idle-ttl %v, addr %s", *limit, *ttl, *addr)
	}
}
