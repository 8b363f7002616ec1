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
// without passing the answer on: the commit is applied, and the client cannot know.
type CutProxy struct {
	URL   string // the database's URL through the proxy
	armed atomic.Bool
	ln    net.Listener
	wg    sync.WaitGroup
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
			if _, werr := server.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
