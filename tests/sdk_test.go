package tests

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// debianPython is the Python that Debian's python3-* packages (pytest, websockets,
// FastAPI) install for: /usr/bin/python3, whatever else is first on PATH.
func debianPython(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return requireTool(t, "python3")
}

// requirePythonModules fails (under CI=true) or skips the test unless python imports them.
func requirePythonModules(t *testing.T, python string, modules ...string) {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import "+strings.Join(modules, ", ")).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s cannot import %v (.ci/run installs Debian's python3-* packages): %s", python, modules, out)
		}
		t.Skipf("python modules %v missing: %s", modules, out)
	}
}

// sdk/python's own tests (pytest), against the built binary they start themselves.
func TestPythonSDK(t *testing.T) {
	python := debianPython(t)
	requirePythonModules(t, python, "pytest", "websockets", "fastapi", "uvicorn", "celery", "django")
	cmd := exec.Command(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests")
	cmd.Dir = "../sdk/python"
	cmd.Env = append(os.Environ(), "TASKTAIL_BIN="+tasktailBinary(t), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pytest sdk/python: %v\n%s", err, out)
	}
	t.Logf("%s", lastLine(string(out)))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// sdk/js's tests (Node's test runner) against the built binary they start themselves.
func TestJSSDK(t *testing.T) {
	node := requireTool(t, "node")
	version, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(version)), "v"), "."); len(major) < 2 || major < "20" {
		t.Fatalf("node %s: sdk/js needs Node 20 or newer (its WebSocket)", strings.TrimSpace(string(version)))
	}
	cmd := exec.Command(node, "--experimental-websocket", "--test", "test/")
	cmd.Dir = "../sdk/js"
	cmd.Env = append(os.Environ(), "TASKTAIL_BIN="+tasktailBinary(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test sdk/js: %v\n%s", err, out)
	}
}

// The npm package's module and the one the server serves at /static/tasktail.js are one
// source: the server embeds server/web/tasktail.js, which sdk/js/tasktail.js must equal.
func TestJSSDKIsWhatTheServerServes(t *testing.T) {
	pkg, err := os.ReadFile("../sdk/js/tasktail.js")
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, defaults())
	resp, err := s.client.Get(s.base + "/static/tasktail.js")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	served, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pkg, served) {
		t.Fatal("sdk/js/tasktail.js differs from what the server serves: copy server/web/tasktail.js over it")
	}
}
