package server

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	"github.com/atoll-iac/atoll/locking"
)

// deliveryLog remembers webhook delivery ids, so that an event the forge
// delivers again, to this replica or another, runs once.
type deliveryLog interface {
	// first records id and reports whether it is new; an empty id is
	// always new. forget undoes the record, so that the forge's retry
	// runs.
	first(ctx context.Context, id string) (forget func(), isNew bool, err error)
}

// sharedDeliveries remembers delivery ids as leases in the store that
// replicas share: the first replica to take a delivery's lease runs it.
type sharedDeliveries struct {
	leases locking.Leaser
	ttl    time.Duration
}

func (d sharedDeliveries) first(ctx context.Context, id string) (func(), bool, error) {
	if id == "" {
		return func() {}, true, nil
	}
	// An owner of its own, so that no other attempt counts as the holder.
	owner := rand.Text()
	name := "delivery:" + id
	ok, err := d.leases.Acquire(ctx, name, owner, d.ttl)
	if err != nil || !ok {
		return nil, false, err
	}
	forget := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		d.leases.Release(ctx, name, owner)
	}
	return forget, true, nil
}

// deliveries remembers webhook delivery ids for a while, in memory, for
// one process. It holds at most max ids, forgetting the oldest first.
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

func (d *deliveries) first(_ context.Context, id string) (func(), bool, error) {
	if d.record(id, time.Now()) {
		return func() { d.forget(id) }, true, nil
	}
	return nil, false, nil
}

// record records id and reports whether it is new. An empty id is always
// new.
func (d *deliveries) record(id string, now time.Time) bool {
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
