package tests

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// requireTool finds a program the test needs; under CI=true a missing one is a failure.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required (.ci/run installs it): %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return path
}

// runExample runs an example producer against s and checks what the task then holds.
func runExample(t *testing.T, s *service, taskID string, wantMessages []string, wantLevels []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, append(args, taskID)...)
	cmd.Env = append(cmd.Environ(), "TASKTAIL_SERVER="+s.base)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	st := s.with(testKey, "GET", "/v1/tasks/"+taskID, "")
	if st.body["finished"] != true || st.num("last_seq") != uint64(len(wantMessages)) || st.body["progress"] != 100.0 {
		t.Fatalf("status after %s: %v\n%s", name, st.body, out)
	}
	v := s.watch(taskID, "since=0&token="+mint(t, taskID, time.Hour))
	v.hello()
	for i, l := range v.logs(len(wantMessages)) {
		if l.Message != wantMessages[i] || string(l.Level) != wantLevels[i] {
			t.Fatalf("message %d = %s %q, want %s %q", i+1, l.Level, l.Message, wantLevels[i], wantMessages[i])
		}
	}
}

func TestPythonExample(t *testing.T) {
	python := requireTool(t, "python3")
	s := secured(t) // the example sends TASKTAIL_KEY
	t.Setenv("TASKTAIL_KEY", testKey)
	msgs := []string{"imported rows 1-100", "imported rows 101-200", "imported rows 201-300", "imported rows 301-400", "imported rows 401-500", "import complete"}
	levels := []string{"info", "info", "info", "info", "info", "success"}
	runExample(t, s, "py-import", msgs, levels, python, "../examples/python/publish.py")
}

func TestCurlExample(t *testing.T) {
	requireTool(t, "curl")
	s := secured(t)
	t.Setenv("TASKTAIL_KEY", testKey)
	msgs := []string{"report started", "query 1 done", "query 2 slow", "report ready"}
	levels := []string{"info", "info", "warning", "success"}
	runExample(t, s, "curl-report", msgs, levels, "bash", "../examples/curl.sh")
}

func TestPythonMintedTokenOpensTheTask(t *testing.T) {
	python := requireTool(t, "python3")
	s := secured(t)
	s.with(testKey, "POST", "/v1/tasks/py-tok/logs", `{"level":"info","message":"x"}`)
	cmd := exec.Command(python, "../examples/python/mint_token.py", "py-*", "600")
	cmd.Env = append(cmd.Environ(), "TASKTAIL_TOKEN_SECRET="+testSecret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(out))
	if r := s.with(tok, "GET", "/v1/tasks/py-tok", ""); r.status != 200 || r.num("last_seq") != 1 {
		t.Fatalf("status with the Python token: %d %v", r.status, r.body)
	}
	if r := s.with(tok, "GET", "/v1/tasks/other", ""); r.status != 403 {
		t.Fatalf("the Python token opened another task: %d", r.status)
	}
}
