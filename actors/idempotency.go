package actors

// idempotency remembers the answers to a task's recent publishes that carried an
// idempotency key, so that a retry is answered as the first was and stored once: the last
// limit keys, oldest forgotten first. A task without keyed publishes has none.
type idempotency struct {
	acks  map[string]partAck
	order []string // oldest first
	limit int
}

// keyed returns the answer to the publish that had key, if the task remembers it.
func (t *TaskActor) keyed(key string) (partAck, bool) {
	if key == "" || t.idem == nil {
		return partAck{}, false
	}
	ack, ok := t.idem.acks[key]
	return ack, ok
}

// remember records the answer to a publish with key.
func (t *TaskActor) remember(key string, ack partAck) {
	if key == "" {
		return
	}
	if t.idem == nil {
		t.idem = &idempotency{acks: map[string]partAck{}, limit: t.cfg.HistoryLimit}
	}
	d := t.idem
	if _, ok := d.acks[key]; !ok {
		d.order = append(d.order, key)
	}
	d.acks[key] = ack
	if len(d.order) > d.limit {
		delete(d.acks, d.order[0])
		d.order[0] = ""
		d.order = d.order[1:]
	}
}
