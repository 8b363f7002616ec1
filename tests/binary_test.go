package tests

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// buildBinary builds cmd/tasktail into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tasktail")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/tasktail").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// The binary drains on SIGTERM: a viewer gets 1001 and the process exits 0 within 10 s.
func TestBinaryDrainsOnSIGTERM(t *testing.T) {
	cmd := exec.Command(buildBinary(t), "serve", "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	base := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				base <- m[1]
			}
		}
		exited <- cmd.Wait() // after stdout is drained, as exec requires
	}()
	s := &service{t: t, client: newClient()}
	select {
	case s.base = <-base:
	case <-time.After(wait):
		t.Fatal("binary did not print its address")
	}
	s.publish("sig", "info", "before", 0, false)
	v := s.watch("sig", "")
	v.hello()
	v.logs(1)

	began := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, _ := v.closed(); code != websocket.StatusGoingAway {
		t.Fatalf("viewer closed with %d, want 1001", code)
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit within 10 s of SIGTERM")
	}
	t.Logf("drained and exited %v after SIGTERM", time.Since(began).Round(time.Millisecond))
}
