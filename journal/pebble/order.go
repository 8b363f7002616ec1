package pebble

// The activity order is written lazily. Every publish moves its task's activity time, and
// moving the task's activity key with it (a delete and a set) took a third of the
// journal's CPU per publish, most of it later, in flushes and compactions of the
// tombstones. So a commit only notes the move it owes (owed), and the moves are written
// in one batch when the order is read (ListActive), when more than maxOwed tasks owe one,
// and when the journal closes. A task moved many times between two reads is moved once.
//
// While moves are owed, the database lacks the mark of a complete order (activityIndexed):
// the commit that first owes one deletes it in its own batch, and the batch that writes
// the moves sets it again. A journal that stops without writing them (a crash) finds no
// mark when it opens and rebuilds the order from the metas (indexActivity). A commit that
// fails leaves the keys as they may or may not be: the order is rebuilt before it is read.

import (
	"sync"

	pebbledb "github.com/cockroachdb/pebble/v2"
	"github.com/tasktail/tasktail/journal"
)

// maxOwed bounds the tasks that owe a move of their activity key (about 150 bytes each).
var maxOwed = 4096 // a variable for tests

// activityOrder is what the journal knows of its activity keys beyond the metas.
type activityOrder struct {
	mu   sync.Mutex // held by every write and by the reads of the order
	owed map[string]placed
	// marked: the database may have the mark of a complete order, so a write that owes a
	// move must delete it.
	marked bool
	// stale: a write failed, so where the keys are is unknown: nothing is owed, the mark
	// is deleted, and the order is rebuilt before it is read (or when the journal opens).
	stale bool
}

// placed is where a task's activity key is in the database (keyed: it has one, at at
// with state), and where its meta puts it (active, to); gone: the task was deleted.
type placed struct {
	keyed  bool
	at     int64
	state  byte
	active int64
	to     byte
	gone   bool
}

// owes reports whether the key is not where the meta puts it.
func (m placed) owes() bool { return !m.gone && (!m.keyed || m.at != m.active || m.state != m.to) }

// keyOf is where the database has taskID's key: as pending or owed note it, else where
// the stored meta (if found) puts it.
func (o *activityOrder) keyOf(pending map[string]placed, taskID string, stored journal.Meta, found bool) placed {
	if m, ok := pending[taskID]; ok {
		return m
	}
	if m, ok := o.owed[taskID]; ok {
		return m
	}
	s := activityState(stored)[0]
	return placed{keyed: found, at: stored.Active, state: s, active: stored.Active, to: s}
}

// note records in pending that taskID's meta is now meta.
func (o *activityOrder) note(pending map[string]placed, taskID string, stored journal.Meta, found bool, meta journal.Meta) {
	m := o.keyOf(pending, taskID, stored, found)
	if m.gone {
		m = placed{}
	}
	m.active, m.to = meta.Active, activityState(meta)[0]
	pending[taskID] = m
}

// remove adds to b the delete of taskID's key, wherever it is, and records in pending
// that the task has none.
func (o *activityOrder) remove(b *pebbledb.Batch, pending map[string]placed, taskID string, stored journal.Meta, found bool) error {
	m := o.keyOf(pending, taskID, stored, found)
	pending[taskID] = placed{gone: true}
	if !m.keyed || o.stale {
		return nil
	}
	return b.Delete(activityKey(m.at, taskID), nil)
}

// settle adds to b what a write with pending does to the order: every move owed, if all
// or if more than maxOwed tasks would owe one (it reports whether it did), else the
// mark's delete when a move is owed.
func (o *activityOrder) settle(b *pebbledb.Batch, pending map[string]placed, all bool) (bool, error) {
	if o.stale {
		if o.marked {
			return false, b.Delete(activityIndexed, nil)
		}
		return false, nil
	}
	owing := len(o.owed) // every task in owed owes a move (settled keeps it so)
	for id, m := range pending {
		_, was := o.owed[id]
		switch {
		case m.owes() && !was:
			owing++
		case !m.owes() && was:
			owing--
		}
	}
	if all || owing > maxOwed {
		for id, m := range o.owed {
			if _, ok := pending[id]; !ok {
				pending[id] = m
			}
		}
		for id, m := range pending {
			if err := move(b, id, m); err != nil {
				return false, err
			}
		}
		return true, b.Set(activityIndexed, nil, nil)
	}
	if o.marked && owing > 0 {
		return false, b.Delete(activityIndexed, nil)
	}
	return false, nil
}

// move adds to b the move of a task's key from where it is to where its meta puts it.
func move(b *pebbledb.Batch, taskID string, m placed) error {
	if !m.owes() {
		return nil
	}
	if m.keyed {
		if err := b.Delete(activityKey(m.at, taskID), nil); err != nil {
			return err
		}
	}
	return b.Set(activityKey(m.active, taskID), []byte{m.to}, nil)
}

// settled records the outcome of a write that settle prepared: on success the keys are
// as pending says (every one in place when all), else they are unknown.
func (o *activityOrder) settled(pending map[string]placed, all bool, err error) {
	switch {
	case err != nil:
		o.stale, o.marked = true, true // the mark's delete may or may not be written
		clear(o.owed)
	case o.stale:
		o.marked = false
	case all:
		clear(o.owed)
		o.marked = true
	default:
		for id, m := range pending {
			if m.owes() {
				o.owed[id] = m
			} else {
				delete(o.owed, id)
			}
		}
		if len(o.owed) > 0 {
			o.marked = false
		}
	}
}

// putInOrder writes every move owed, or rebuilds the order if it is stale, so that the
// activity keys are where the metas put them. The caller holds o.mu.
func (p *Journal) putInOrder() error {
	o := &p.order
	if o.stale {
		err := p.rebuildOrder()
		o.marked = true // written, or it may have been: the next move owed deletes it
		if err == nil {
			o.stale = false
			clear(o.owed)
		}
		return err
	}
	if len(o.owed) == 0 && o.marked {
		return nil
	}
	b := p.db.NewBatch()
	defer b.Close()
	pending := map[string]placed{}
	all, err := o.settle(b, pending, true)
	if err == nil {
		// Not synced: if a crash loses it, it loses what follows it in the log too, and
		// the mark's delete before it stays, so the next open rebuilds the order.
		err = p.commitWith(b, false, pebbledb.NoSync)
	}
	o.settled(pending, all, err)
	return err
}
