package taskstate

import "github.com/tasktail/tasktail/journal"

// keys remembers a task's recent idempotency keys with their answers, so that a retry
// is answered as the first was and stored once: the last Rules.KeyWindow keys, oldest
// forgotten first, none older than Rules.KeyTTL. Each keeps a fingerprint of its
// publish's body: the same key with another body is refused, as Stripe does.
type keys struct {
	byKey map[string]rememberedKey
	order []string // oldest first
}

// rememberedKey is a stored publish's key, and whether it was queued (no viewer was
// connected), so that a retry is answered as the first time; a key loaded from the
// journal says not queued.
type rememberedKey struct {
	journal.Key
	queued bool
}

// key returns the stored publish that had key, if it is remembered at now.
func (s *State) key(k string, now int64, r Rules) (rememberedKey, bool) {
	if k == "" || s.keys == nil {
		return rememberedKey{}, false
	}
	stored, ok := s.keys.byKey[k]
	if !ok || now-stored.At > int64(r.KeyTTL) {
		return rememberedKey{}, false
	}
	return stored, true
}

// remember records a stored publish's key.
func (s *State) remember(k journal.Key, queued bool, r Rules) {
	if s.keys == nil {
		s.keys = &keys{byKey: map[string]rememberedKey{}}
	}
	d := s.keys
	if _, ok := d.byKey[k.Key]; !ok {
		d.order = append(d.order, k.Key)
	}
	d.byKey[k.Key] = rememberedKey{Key: k, queued: queued}
	if len(d.order) > r.KeyWindow {
		delete(d.byKey, d.order[0])
		d.order[0] = ""
		d.order = d.order[1:]
	}
}
