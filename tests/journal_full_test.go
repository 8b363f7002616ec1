package tests

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A full disk, through the binary on a small tmpfs: the process lives; publishes answer
// 503 journal_unavailable with Retry-After; readiness fails; status, viewers and the
// download keep working; a delete still frees space; and once there is room again,
// publishes are stored without a restart.
func TestJournalDiskFullOverHTTP(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=192m", "tmpfs", mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "true" {
			t.Skipf("a tmpfs cannot be mounted here (root is needed): %v %s", err, out)
		}
		t.Fatalf("mount a tmpfs (the test runs as root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	m := startDurable(t, "full", filepath.Join(mnt, "data"))
	m.publish("kept", "info", "before the disk filled", 0, false)
	m.publish("spare", "info", "to delete", 0, false)
	v := m.watch("kept", "since=0")
	v.hello()
	v.logs(1)

	filler := filepath.Join(mnt, "filler")
	fill := func() {
		f, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		chunk := make([]byte, 1<<20)
		for {
			if _, err := f.Write(chunk); err != nil {
				return // full
			}
		}
	}
	fill()
	big := `{"level":"info","message":"` + strings.Repeat("x", 60000) + `"}`
	var refused response
	acked := 1
	awaitWithin(t, 20*time.Second, "a publish refused for the full disk", func() bool {
		refused = m.publishRaw("kept", []byte(big))
		if refused.status == http.StatusAccepted {
			acked++
			fill() // the ballast was released: fill what it gave back
			return false
		}
		return true
	})
	if refused.status != http.StatusServiceUnavailable || refused.errorCode() != "journal_unavailable" || refused.header.Get("Retry-After") == "" {
		t.Fatalf("publish on a full disk: %d %v, want 503 journal_unavailable with Retry-After", refused.status, refused.body)
	}
	if r := m.do(http.MethodGet, "/readyz", "", nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz on a full disk: %d", r.status)
	}
	if st := m.status("kept"); st.status != http.StatusOK || st.num("last_seq") != uint64(acked) {
		t.Fatalf("status on a full disk: %d %v, want last_seq %d", st.status, st.body, acked)
	}
	if _, code := download(t, m.base, "kept", "text"); code != http.StatusOK {
		t.Fatalf("download on a full disk: %d", code)
	}
	if r := m.do(http.MethodDelete, "/v1/tasks/spare", "", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete on a full disk: %d %v", r.status, r.body)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	awaitWithin(t, 10*time.Second, "publishes stored again once there is room", func() bool {
		return m.publishRaw("kept", []byte(`{"level":"info","message":"after"}`)).status == http.StatusAccepted
	})
	if r := m.do(http.MethodGet, "/readyz", "", nil); r.status != http.StatusOK {
		t.Fatalf("readyz once there is room: %d", r.status)
	}
	if logs := v.logs(acked); len(logs) != acked {
		t.Fatalf("the viewer got %d messages, want %d", len(logs), acked)
	}
	select {
	case err := <-m.exited:
		t.Fatalf("the server exited: %v", err)
	default:
	}
}
