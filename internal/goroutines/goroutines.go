// Package goroutines starts goroutines for an owner that waits for them.
package goroutines

import "sync"

// Group starts goroutines for an owner that waits for them: every goroutine tasktail
// starts outside an actor goes through one. Once stopped it starts none. The zero value
// is ready for use.
type Group struct {
	mu      sync.Mutex
	wg      sync.WaitGroup
	stopped bool
}

// Go runs f in a new goroutine, unless stop was called; it reports whether it did.
func (g *Group) Go(f func()) bool {
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

// Stop makes Go refuse from now on.
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}

// Wait waits for every goroutine Go started.
func (g *Group) Wait() { g.wg.Wait() }
