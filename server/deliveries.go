package server

import (
	"sync"
	"time"
)

// deliveries remembers webhook delivery ids for a while, so that a
// redelivered event runs once. It holds at most max ids, forgetting the
// oldest first.
type deliveries struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	seen  map[string]time.Time
	order []delivery // in the order recorded; may name ids since forgotten
}

type delivery struct {
	id string
	at time.Time
}

func newDeliveries(ttl time.Duration, max int) *deliveries {
	return &deliveries{ttl: ttl, max: max, seen: map[string]time.Time{}}
}

// first records id and reports whether it is new. An empty id is always new.
func (d *deliveries) first(id string, now time.Time) bool {
	if id == "" {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.order) > 0 && (len(d.order) >= d.max || now.Sub(d.order[0].at) > d.ttl) {
		old := d.order[0]
		if at, ok := d.seen[old.id]; ok && at.Equal(old.at) {
			delete(d.seen, old.id)
		}
		d.order = d.order[1:]
	}
	if _, ok := d.seen[id]; ok {
		return false
	}
	d.seen[id] = now
	d.order = append(d.order, delivery{id, now})
	return true
}

// forget drops id, so that a redelivery of it runs.
func (d *deliveries) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, id)
}
