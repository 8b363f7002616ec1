package conn

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// recordingConn records the writes and write deadlines that reach the network.
type recordingConn struct {
	net.Conn
	writes    []string
	deadlines []time.Time
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, string(p))
	return len(p), nil
}

func (c *recordingConn) SetWriteDeadline(t time.Time) error {
	c.deadlines = append(c.deadlines, t)
	return nil
}

func TestCorkConnSendsARunInOneWrite(t *testing.T) {
	rec := &recordingConn{}
	c := &corkConn{Conn: rec}

	if _, err := c.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 1 || rec.writes[0] != "pong" {
		t.Fatalf("a write outside a hold: network saw %q, want it at once", rec.writes)
	}

	deadline := time.Now().Add(time.Second)
	c.hold()
	for _, frame := range []string{"a", "bb", "ccc"} {
		if _, err := c.Write([]byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.writes) != 1 {
		t.Fatalf("held writes reached the network before the flush: %q", rec.writes)
	}
	if err := c.flush(deadline); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 2 || rec.writes[1] != "abbccc" {
		t.Fatalf("network saw %q, want the run as one write \"abbccc\"", rec.writes)
	}
	if len(rec.deadlines) != 2 || !rec.deadlines[0].Equal(deadline) || !rec.deadlines[1].IsZero() {
		t.Fatalf("write deadlines %v, want the run's deadline, then none", rec.deadlines)
	}

	// An empty hold writes nothing; after a flush, writes go straight through again.
	c.hold()
	if err := c.flush(deadline); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte("close"))
	if len(rec.writes) != 3 || rec.writes[2] != "close" {
		t.Fatalf("network saw %q, want nothing for an empty run, then \"close\"", rec.writes)
	}
}

func TestCorkConnFlushHonoursItsDeadline(t *testing.T) {
	server, peer := net.Pipe() // unbuffered: a write blocks until the peer reads
	defer peer.Close()
	defer server.Close()
	c := &corkConn{Conn: server}
	c.hold()
	_, _ = c.Write(bytes.Repeat([]byte("x"), 1024))
	err := c.flush(time.Now().Add(50 * time.Millisecond))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("flush to a peer that does not read: %v, want the deadline exceeded", err)
	}
}
