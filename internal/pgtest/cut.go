package pgtest

import (
	"bytes"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// CutProxy stands between a client and a database on loopback. Armed, it passes the next
// COMMIT to the server, waits until the server answers, and then drops the connection
// without passing the answer on: the commit is applied, and the client cannot know. Told
// to hold the next COMMIT, it keeps it from the server until released, as a client paused
// just before its COMMIT would: the server's session sits idle inside the transaction.
type CutProxy struct {
	URL   string // the database's URL through the proxy
	armed atomic.Bool
	// hold, when set, is the next COMMIT's: closed held once one is held, and the COMMIT
	// goes on when release is closed.
	hold atomic.Pointer[commitHold]
	ln   net.Listener
	wg   sync.WaitGroup
	// Cuts counts the commits whose answer was dropped.
	Cuts atomic.Int64
}

// NewCutProxy starts a proxy to the database at dbURL; it stops with the test.
func NewCutProxy(t testing.TB, dbURL string) *CutProxy {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	u.Host = ln.Addr().String()
	p := &CutProxy{URL: u.String(), ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c, target) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// CutNextCommit arms the proxy for the next COMMIT on any of its connections.
func (p *CutProxy) CutNextCommit() { p.armed.Store(true) }

type commitHold struct{ held, release chan struct{} }

// HoldNextCommit keeps the next COMMIT on any of the proxy's connections from the server.
// The first channel is closed once a COMMIT is held; closing the second lets it go on.
func (p *CutProxy) HoldNextCommit() (held <-chan struct{}, release chan<- struct{}) {
	h := &commitHold{held: make(chan struct{}), release: make(chan struct{})}
	p.hold.Store(h)
	return h.held, h.release
}

// commitQuery is a simple-protocol Query message of COMMIT as pgx sends it.
var commitQuery = []byte("commit\x00")

func (p *CutProxy) serve(client net.Conn, target string) {
	defer client.Close()
	server, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	cut := make(chan struct{}) // closed once a commit was passed on to be cut
	answered := make(chan struct{})
	back := make(chan struct{}) // the server-to-client half has ended
	defer func() {
		server.Close() // ends the other half's read
		<-back
	}()
	go func() { // server to client, held back once a commit is to be cut
		defer close(back)
		defer client.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			select {
			case <-cut:
				p.Cuts.Add(1) // before the client can see the cut (client.Close, deferred)
				close(answered)
				return
			default:
			}
			if n > 0 {
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			i := bytes.Index(bytes.ToLower(chunk), commitQuery)
			if i >= 5 && chunk[i-5] == 'Q' && p.armed.CompareAndSwap(true, false) {
				close(cut)
				server.Write(chunk) //nolint:errcheck // the connection is dropped next
				<-answered          // the server has applied it and begun to answer
				return
			}
			if i >= 5 && chunk[i-5] == 'Q' {
				if h := p.hold.Swap(nil); h != nil {
					close(h.held)
					<-h.release
				}
			}
			if _, werr := server.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
