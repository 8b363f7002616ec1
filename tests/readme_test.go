package tests

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/internal/pgserver"
	"github.com/tasktail/tasktail/internal/pgtest"
	"github.com/tasktail/tasktail/journal/postgres"
	v1 "github.com/tasktail/tasktail/proto/tasktail/v1"
)

// guides are the documents whose commands a user copies: the README and the guides.
var guides = []string{"../README.md", "../docs/user-guide.md", "../docs/operator-guide.md", "../docs/library.md"}

// readmeBlock returns the fenced code block of the guides that holds line, without its
// fences: what a user copies.
func readmeBlock(t *testing.T, line string) string {
	t.Helper()
	for _, name := range guides {
		doc, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(string(doc), "\n```")
		for i := 1; i < len(parts); i += 2 { // odd parts are inside fences
			if strings.Contains(parts[i], line) {
				_, body, _ := strings.Cut(parts[i], "\n") // the fence's language
				return body
			}
		}
	}
	t.Fatalf("no code block of %v holds %q", guides, line)
	return ""
}

// readmeLines returns the lines of README's block holding first that start with prefix.
func readmeLines(t *testing.T, first, prefix string) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(readmeBlock(t, first), "\n") {
		if strings.HasPrefix(l, prefix) {
			lines = append(lines, l)
		}
	}
	return lines
}

// shell runs a README line with sh in dir, with env added, and fails the test if it fails.
func shell(t *testing.T, dir, line string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a venv with pip takes seconds
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return string(out)
}

// The README's install lines for the Python package, as written, each in a fresh plain
// venv (no system site packages) with no package index: then the README's logging
// snippet, as written, with the installed package, publishes its two messages.
func TestReadmePythonInstallAndHandler(t *testing.T) {
	python := debianPython(t)
	requirePythonModules(t, python, "venv")
	// A copy of the package where the README's ./sdk/python finds it.
	root := t.TempDir()
	if err := os.CopyFS(filepath.Join(root, "sdk", "python"), os.DirFS("../sdk/python")); err != nil {
		t.Fatal(err)
	}
	lines := readmeLines(t, "pip install ./sdk/python", "pip install")
	if len(lines) < 2 {
		t.Fatalf("README's install block: %q", lines)
	}
	var venvBin string
	for i, line := range lines {
		if strings.Contains(line, "[bridge]") {
			continue // websockets comes from an index
		}
		venv := filepath.Join(t.TempDir(), "venv")
		shell(t, root, python+" -m venv "+venv)
		venvBin = filepath.Join(venv, "bin")
		// As an activated venv has it; PIP_NO_INDEX makes any reach for an index fail at once.
		shell(t, root, line, "PATH="+venvBin+":"+os.Getenv("PATH"), "PIP_NO_INDEX=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1")
		out := shell(t, root, "python -c 'import sys, tasktail; print(tasktail.__file__.startswith(sys.prefix))'", "PATH="+venvBin+":"+os.Getenv("PATH"))
		if strings.TrimSpace(out) != "True" {
			t.Fatalf("line %d (%s): tasktail is not the venv's installed package: %s", i+1, line, out)
		}
	}

	s := start(t, defaults())
	snippet := readmeBlock(t, "TasktailHandler(\"import-42\")")
	script := filepath.Join(t.TempDir(), "snippet.py")
	if err := os.WriteFile(script, []byte(snippet), 0o600); err != nil {
		t.Fatal(err)
	}
	shell(t, root, filepath.Join(venvBin, "python")+" "+script, "TASKTAIL_SERVER="+s.base)
	st := s.status("import-42")
	if st.body["finished"] != true || st.num("last_seq") != 2 || st.body["progress"] != 100.0 {
		t.Fatalf("after the README's logging snippet: %v", st.body)
	}
}

// The README's lines that make PostgreSQL's role and database, as written but for the
// superuser's connection and the server's address: the role then owns a database where
// the journal makes its tables, and a task stored there is read back.
func TestReadmePostgresRoleAndDatabase(t *testing.T) {
	psql := requireTool(t, "psql")
	pgtest.ForTest(t) // skips without PostgreSQL, as every journal test
	pg, err := pgserver.Shared()
	if err != nil {
		t.Fatal(err)
	}
	create := readmeLines(t, "CREATE ROLE tasktail", "sudo -u postgres psql ")
	export := readmeLines(t, "CREATE ROLE tasktail", "export TASKTAIL_POSTGRES_URL=")
	if len(create) != 1 || len(export) != 1 {
		t.Fatalf("README's PostgreSQL block: %q %q", create, export)
	}
	shell(t, ".", strings.Replace(create[0], "sudo -u postgres psql ", psql+" '"+pg.URL+"' ", 1))
	u, err := url.Parse(pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	dbURL := strings.Replace(strings.TrimPrefix(export[0], "export TASKTAIL_POSTGRES_URL="), "db.internal:5432", u.Host, 1)
	j, err := postgres.Open(dbURL, postgres.Options{})
	if err != nil {
		t.Fatalf("the journal in the README's database, as its role: %v", err)
	}
	m, err := actors.NewManager(actors.Config{}, actors.Options{Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	if _, err := m.SendLog(context.Background(), "pg-readme", v1.Level_LEVEL_INFO, "stored", 0, false); err != nil {
		t.Fatalf("publish into the README's database: %v", err)
	}
}
