// Package etag owns what the forges' pollers remember between polls: the
// ETag of a list's last answer and what it said, so that a poll can ask
// "has this changed?" and reuse the answer when the forge says 304.
package etag

import "sync"

// Cache remembers one answer per slot: a list a poller reads again and
// again, such as one repository's pull requests. An answer is kept for
// the URL it came from only, so a slot whose query moves on (a later
// "since") starts afresh. It is safe for concurrent use.
type Cache[T any] struct {
	mu    sync.Mutex
	slots map[string]entry[T]
}

type entry[T any] struct {
	url, etag string
	value     T
}

// Get returns the ETag and value kept for slot if they came from url.
func (c *Cache[T]) Get(slot, url string) (etag string, value T, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.slots[slot]
	if !ok || e.url != url || e.etag == "" {
		var zero T
		return "", zero, false
	}
	return e.etag, e.value, true
}

// Put keeps value, which url answered with etag, in slot; an empty etag
// forgets the slot.
func (c *Cache[T]) Put(slot, url, etag string, value T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if etag == "" {
		delete(c.slots, slot)
		return
	}
	if c.slots == nil {
		c.slots = map[string]entry[T]{}
	}
	c.slots[slot] = entry[T]{url: url, etag: etag, value: value}
}
