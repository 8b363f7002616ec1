package actors

import (
	"math"
	"time"

	"github.com/tasktail/tasktail/journal"
)

// idempotency remembers the answers to a task's recent publishes that carried an
// idempotency key, so that a retry is answered as the first was and stored once: the last
// limit keys, oldest forgotten first, and none older than keyTTL. Each key keeps a
// fingerprint of its publish's body: the same key with another body is refused
// (ErrIdempotencyKeyReused), as Stripe does. A restart and a delete forget them. A task
// without keyed publishes has none.
type idempotency struct {
	keys  map[string]rememberedKey
	order []string // oldest first
	limit int
}

type rememberedKey struct {
	ack  partAck
	hash uint64
	at   int64 // unix nanoseconds
}

// keyTTL is how long a task remembers an idempotency key.
const keyTTL = 24 * time.Hour

// keyed returns the answer to the publish that had key, if the task remembers it, and
// whether that publish had another body than hash.
func (t *TaskActor) keyed(key string, hash uint64, now time.Time) (ack partAck, ok, reused bool) {
	if key == "" || t.idem == nil {
		return partAck{}, false, false
	}
	k, ok := t.idem.keys[key]
	if !ok || now.UnixNano()-k.at > int64(keyTTL) {
		return partAck{}, false, false
	}
	return k.ack, true, k.hash != hash
}

// remember records the answer to a publish with key.
func (t *TaskActor) remember(key string, hash uint64, at int64, ack partAck) {
	if key == "" {
		return
	}
	if t.idem == nil {
		t.idem = &idempotency{keys: map[string]rememberedKey{}, limit: t.cfg.HistoryLimit}
	}
	d := t.idem
	if _, ok := d.keys[key]; !ok {
		d.order = append(d.order, key)
	}
	d.keys[key] = rememberedKey{ack: ack, hash: hash, at: at}
	if len(d.order) > d.limit {
		delete(d.keys, d.order[0])
		d.order[0] = ""
		d.order = d.order[1:]
	}
}

// rememberStored records the keys a task loaded from the journal.
func (t *TaskActor) rememberStored(keys []journal.Key) {
	t.idem = nil
	for _, k := range keys {
		t.remember(k.Key, k.Hash, k.At, partAck{first: k.First, last: k.Last})
	}
}

// bodyHash fingerprints the entries of one publish, for its idempotency key (FNV-1a over
// each entry's level, progress, finished flag, length and message).
func bodyHash(entries []logEntry) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		for range 8 {
			h = (h ^ (v & 0xff)) * prime
			v >>= 8
		}
	}
	for _, e := range entries {
		mix(uint64(e.level))
		mix(math.Float64bits(e.progress))
		if e.finished {
			mix(1)
		} else {
			mix(0)
		}
		mix(uint64(len(e.message)))
		for i := 0; i < len(e.message); i++ {
			h = (h ^ uint64(e.message[i])) * prime
		}
	}
	return h
}
