package actors

import "sync"

// goroutines starts goroutines for an owner that waits for them: every goroutine the
// package starts outside an actor goes through one. Once stopped it starts none.
type goroutines struct {
	mu      sync.Mutex
	wg      sync.WaitGroup
	stopped bool
}

// Go runs f in a new goroutine, unless stop was called; it reports whether it did.
func (g *goroutines) Go(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// stop makes Go refuse from now on.
func (g *goroutines) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}

// wait waits for every goroutine Go started.
func (g *goroutines) wait() { g.wg.Wait() }
