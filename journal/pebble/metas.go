package pebble

import "github.com/tasktail/tasktail/journal"

// maxCachedMetas bounds the metas a journal keeps in memory (about 200 bytes each).
const maxCachedMetas = 4096

// metaCache holds the metas this journal last stored, for at most maxCachedMetas tasks,
// so that a commit admits an append without a point read of the task's meta (a read
// through every memtable and level-0 file, about a twentieth of a publish's CPU). Every
// write goes through Commit, Delete or DeleteExpired, which the journal's one writer
// (journal.Writer) calls one at a time, and each keeps the cache as the database is: a
// commit puts what it stored, a failed one forgets what it tried, and a delete forgets.
// A miss reads the database.
type metaCache map[string]journal.Meta

func (c metaCache) put(taskID string, m journal.Meta) {
	if _, ok := c[taskID]; !ok && len(c) >= maxCachedMetas {
		for id := range c { // a task at random makes room
			delete(c, id)
			break
		}
	}
	c[taskID] = m
}

// stat is Stat through the cache.
func (p *Journal) stat(taskID string) (journal.Meta, bool, error) {
	if err := p.health.readErr(); err != nil {
		return journal.Meta{}, false, err
	}
	if m, ok := p.metas[taskID]; ok {
		return m, true, nil
	}
	return p.Stat(taskID)
}
