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
	order []string // ids in the order first seen
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
	for len(d.order) > 0 && (len(d.order) >= d.max || now.Sub(d.seen[d.order[0]]) > d.ttl) {
		delete(d.seen, d.order[0])
		d.order = d.order[1:]
	}
	if _, ok := d.seen[id]; ok {
		return false
	}
	d.seen[id] = now
	d.order = append(d.order, id)
	return true
}
