// Package deptest holds the test of tasktail's layering: what each package may link,
// checked over its transitive imports (go list -deps), not only its own import lines.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tasktail/tasktail/"

// rules say, for each package, the imports (and their subpackages) it must not link.
var rules = []struct {
	pkg, why string
	bad      []string
}{
	{"taskstate", "a task's state and rules are pure: no actors, no I/O, no backend",
		[]string{"github.com/asynkron/protoactor-go", "github.com/cockroachdb/pebble", "github.com/jackc/pgx", module + "actors", module + "conn"}},
	{"journal", "the journal's interface and Writer link no backend, no actors and no edge",
		[]string{"github.com/asynkron/protoactor-go", "github.com/cockroachdb/pebble", "github.com/jackc/pgx", module + "actors", module + "conn", module + "server"}},
	{"journal/record", "the records' encoding is the backends' common ground, below them",
		[]string{"github.com/cockroachdb/pebble", "github.com/jackc/pgx", module + "journal/pebble", module + "journal/postgres"}},
	{"journal/pebble", "one backend does not link another",
		[]string{"github.com/jackc/pgx", module + "journal/postgres", module + "actors"}},
	{"journal/postgres", "one backend does not link another",
		[]string{"github.com/cockroachdb/pebble", module + "journal/pebble", module + "actors"}},
	{"actors", "a program that embeds tasktail in memory links no journal backend, no cluster and no edge",
		[]string{"github.com/cockroachdb/pebble", "github.com/jackc/pgx", "google.golang.org/grpc", "go.etcd.io/etcd", "github.com/labstack/echo",
			module + "journal/pebble", module + "journal/postgres", module + "journal/backends", module + "cluster", module + "server", module + "client"}},
	{"actors/batch", "publish batching is plain Go over the task's state: no actors",
		[]string{"github.com/asynkron/protoactor-go", module + "actors", module + "conn", "github.com/cockroachdb/pebble", "github.com/jackc/pgx"}},
	{"wire", "the wire contract is a leaf: the messages and the standard library only",
		[]string{"github.com/asynkron/protoactor-go", module + "actors", module + "conn", module + "journal", module + "server", module + "taskstate", module + "client"}},
	{"embed", "the embeddable API is a facade over the actors: no journal backend, no cluster, no edge",
		[]string{"github.com/cockroachdb/pebble", "github.com/jackc/pgx", "google.golang.org/grpc", "go.etcd.io/etcd",
			module + "journal/pebble", module + "journal/postgres", module + "cluster", module + "server"}},
	{"conn", "connection I/O (sockets, the outbox and its writer) is below the actors and links none",
		[]string{"github.com/asynkron/protoactor-go", module + "actors", module + "journal", module + "server"}},
	{"server", "the edge clusters only when its program passes it a cluster",
		[]string{"google.golang.org/grpc", "go.etcd.io/etcd", module + "cluster"}},
	{"client", "the Go client is small: no actors, no journal, no server",
		[]string{"github.com/asynkron/protoactor-go", module + "actors", module + "journal", module + "server", "github.com/cockroachdb/pebble", "github.com/jackc/pgx"}},
	{"token", "subscribe tokens need nothing beyond the standard library",
		[]string{"github.com/", "golang.org/", "google.golang.org/"}},
	{"cmd/tasktail", "the binary does not link the test framework",
		[]string{"testing"}},
	{"cmd/tasktail-bench", "the load generator does not link the test framework",
		[]string{"testing"}},
}

// embedMost bounds what a program that embeds tasktail in memory (actors) links: 304
// packages when this was written, most of them the actor library's own (protobuf,
// OpenTelemetry, Prometheus), against 604 when the cluster and both journals came with it.
const embedMost = 320

func TestEmbeddingStaysSmall(t *testing.T) {
	for _, pkg := range []string{"embed", "actors"} {
		if n := len(listDeps(t, module+pkg)); n > embedMost {
			t.Errorf("a program that embeds %s links %d packages, more than %d: see what came in with go list -deps ./%s", pkg, n, embedMost, pkg)
		}
	}
}

func TestLayering(t *testing.T) {
	for _, r := range rules {
		deps := listDeps(t, module+r.pkg)
		for _, dep := range deps {
			if dep == module+r.pkg {
				continue
			}
			for _, bad := range r.bad {
				if dep == bad || strings.HasPrefix(dep, strings.TrimSuffix(bad, "/")+"/") {
					t.Errorf("%s links %s (forbidden: %s): %s", r.pkg, dep, bad, r.why)
				}
			}
		}
	}
}

// listDeps returns every package pkg links, itself included.
func listDeps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %s", pkg, msg)
	}
	return strings.Fields(string(out))
}
