package pebble

// The Pebble journal's deletes: a task's (DELETE), and the retention sweep's.

import (
	"time"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/tasktail/tasktail/journal"
)

// Delete implements Journal.
func (p *Journal) Delete(taskID string) error {
	meta, found, err := p.stat(taskID)
	delete(p.metas, taskID)
	if err != nil {
		return err
	}
	p.order.mu.Lock()
	defer p.order.mu.Unlock()
	b := p.db.NewBatch()
	defer b.Close()
	moves := map[string]placed{}
	if err := p.deleteTask(b, moves, taskID, meta, found); err != nil {
		return err
	}
	return p.commitMoves(b, moves, true)
}

// commitMoves commits b, which holds moves, under the sync setting, and keeps the
// activity order's account of them. The caller holds p.order.mu.
func (p *Journal) commitMoves(b *pebbledb.Batch, moves map[string]placed, freeing bool) error {
	all, err := p.order.settle(b, moves, false)
	if err != nil {
		return err
	}
	err = p.commitSynced(b, freeing)
	p.order.settled(moves, all, err)
	return err
}

// deleteTask adds to b the deletes of every key of a task, whose meta is stored (if found).
func (p *Journal) deleteTask(b *pebbledb.Batch, moves map[string]placed, taskID string, stored journal.Meta, found bool) error {
	if err := p.order.remove(b, moves, taskID, stored, found); err != nil {
		return err
	}
	for _, kind := range []byte{'c', 'k'} {
		start, end := seqBounds(kind, taskID)
		if err := b.DeleteRange(start, end, nil); err != nil {
			return err
		}
	}
	return b.Delete(metaKey(taskID), nil)
}

// DeleteExpired implements Journal: each task's meta is read again and the expired ones
// are deleted in one batch.
func (p *Journal) DeleteExpired(taskIDs []string, now time.Time, r journal.Retention) (int, error) {
	p.order.mu.Lock()
	defer p.order.mu.Unlock()
	b := p.db.NewBatch()
	defer b.Close()
	moves := map[string]placed{}
	n := 0
	for _, id := range taskIDs {
		meta, found, err := p.stat(id)
		if err != nil {
			return 0, err
		}
		if !found || !meta.Expired(now, r) {
			continue
		}
		delete(p.metas, id)
		if err := p.deleteTask(b, moves, id, meta, found); err != nil {
			return 0, err
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if err := p.commitMoves(b, moves, true); err != nil {
		return 0, err
	}
	return n, nil
}
