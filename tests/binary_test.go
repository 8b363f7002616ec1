package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// tasktailBinary builds cmd/tasktail and cmd/tasktail-bench once per test run and returns
// the path of tasktail: static (CGO_ENABLED=0), as in the image. TASKTAIL_TEST_BUILD_FLAGS
// adds build flags: -race finds the data races of members that run as processes (the race
// detector then fails a member's exit; it needs cgo, so that build is not static).
func tasktailBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "tasktail-bin-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "tasktail")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		flags := strings.Fields(os.Getenv("TASKTAIL_TEST_BUILD_FLAGS"))
		args := append(append([]string{"build"}, flags...), "-o", binDir, "../cmd/tasktail", "../cmd/tasktail-bench")
		build := exec.CommandContext(ctx, "go", args...)
		if !slices.Contains(flags, "-race") { // the race detector needs cgo
			build.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as the image has it
		}
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// benchBinary returns the path of tasktail-bench, built with tasktail.
func benchBinary(t testing.TB) string {
	t.Helper()
	return filepath.Join(filepath.Dir(tasktailBinary(t)), "tasktail-bench")
}

func removeBinary() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// The binary drains on SIGTERM: a viewer gets 1001 and the process exits 0 within 10 s.
func TestBinaryDrainsOnSIGTERM(t *testing.T) {
	m := startServe(t, "single")
	m.publish("sig", "info", "before", 0, false)
	v := m.watch("sig", "")
	v.hello()
	v.logs(1)

	began := time.Now()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, _ := v.closed(); code != websocket.StatusGoingAway {
		t.Fatalf("viewer closed with %d, want 1001", code)
	}
	select {
	case err := <-m.exited:
		m.exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit within 10 s of SIGTERM")
	}
	t.Logf("drained and exited %v after SIGTERM", time.Since(began).Round(time.Millisecond))
}
