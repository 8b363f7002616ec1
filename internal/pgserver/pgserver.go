// Package pgserver runs a throwaway PostgreSQL for tests and benchmarks: initdb in a
// temporary folder, the server on a free loopback port with its socket in that folder,
// removed on Stop. One per test binary is enough; Start it from TestMain or once through
// Shared. It does not link package testing (tasktail-bench uses it); pgtest has the
// helpers for tests.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrMissing is returned when PostgreSQL's programs are not installed.
var ErrMissing = errors.New("PostgreSQL is not installed (apt-get install postgresql)")

// Server is a running throwaway PostgreSQL.
type Server struct {
	// URL connects to its database as a superuser, over 127.0.0.1.
	URL    string
	dir    string
	proc   *exec.Cmd
	done   chan error
	asUser []string
	start  []string // the postgres command line
}

// Start makes a new cluster and starts it; Stop removes both.
func Start() (*Server, error) {
	initdb, err := program("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := program("postgres")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tasktail-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir}
	// PostgreSQL refuses to run as root: run it as the postgres user the package made.
	var asUser []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			s.remove()
			return nil, fmt.Errorf("running as root needs the postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			s.remove()
			return nil, err
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	data := filepath.Join(dir, "data")
	init := command(asUser, initdb, "-D", data, "-U", "tasktail", "--auth=trust", "-E", "UTF8", "--no-sync")
	if out, err := init.CombinedOutput(); err != nil {
		s.remove()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		s.remove()
		return nil, err
	}
	s.asUser, s.start = asUser, []string{postgres, "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on"}
	s.URL = fmt.Sprintf("postgres://tasktail@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := s.Resume(); err != nil {
		s.remove()
		return nil, err
	}
	return s, nil
}

// Resume starts the server (again, after Halt) and waits until it takes connections.
func (s *Server) Resume() error {
	s.proc = command(s.asUser, s.start[0], s.start[1:]...)
	if err := s.proc.Start(); err != nil {
		return err
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.proc.Wait() }()
	if err := s.await(30 * time.Second); err != nil {
		s.Halt()
		return err
	}
	return nil
}

// Halt shuts the server down, keeping its data for Resume: a database that goes away.
func (s *Server) Halt() {
	if s.proc == nil || s.proc.Process == nil {
		return
	}
	// A fast shutdown, signalled to the postmaster itself: runuser, when it runs it as
	// the postgres user, does not pass signals on.
	if b, err := os.ReadFile(filepath.Join(s.dir, "data", "postmaster.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])); err == nil {
			_ = syscall.Kill(pid, syscall.SIGINT)
		}
	} else {
		_ = s.proc.Process.Signal(os.Interrupt)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.proc.Process.Kill()
		<-s.done
	}
	s.proc = nil
}

func command(asUser []string, name string, args ...string) *exec.Cmd {
	if len(asUser) > 0 {
		return exec.Command(asUser[0], append(append(asUser[1:], name), args...)...)
	}
	return exec.Command(name, args...)
}

// program finds a PostgreSQL program on PATH or in Debian's versioned folder.
func program(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name); len(found) > 0 {
		return found[len(found)-1], nil
	}
	return "", ErrMissing
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// await waits until the server takes connections.
func (s *Server) await(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, s.URL)
		if err == nil {
			c.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("postgres exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not take connections within %v: %w", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop shuts the server down and removes its folder.
func (s *Server) Stop() {
	s.Halt()
	s.remove()
}

func (s *Server) remove() { os.RemoveAll(s.dir) }

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
)

// Shared starts one server for the whole test binary on first use; StopShared (from
// TestMain, after the tests) removes it.
func Shared() (*Server, error) {
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	return shared, sharedErr
}

// StopShared stops the shared server, if one was started.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}

var databases atomic.Int64

// NewDatabase creates an empty database on s and returns its URL.
func (s *Server) NewDatabase() (string, error) {
	name := fmt.Sprintf("t%d", databases.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return strings.Replace(s.URL, "/postgres?", "/"+name+"?", 1), nil
}
