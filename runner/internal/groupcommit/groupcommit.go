// Package groupcommit commits the writes that callers of a bbolt file
// make at once in one transaction, and so one sync of the file: a group
// commit, for the stores whose writes come in bursts (the task queue,
// the job log).
package groupcommit

import (
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds the writes one transaction takes.
const maxGroup = 1000

// A Committer writes a bbolt file for callers that write at once in one
// transaction, so one sync of the file, rather than one each. Its one writer takes the writes that wait, commits them
// together, and answers each once they are on disk; writes that come
// meanwhile wait for the next commit, so a write alone waits for no
// other. A write that fails is taken out, the others committed without
// it: each caller sees its own write fail or hold, as with one
// transaction each.
type Committer struct {
	db      *bolt.DB
	writes  chan write
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// write is one caller's change, answered on done.
type write struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// New returns a Committer of db, whose writes go through it; Close stops
// it.
func New(db *bolt.DB) *Committer {
	c := &Committer{db: db, writes: make(chan write), stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// Update runs fn in a writable transaction, and returns once what it
// wrote is on disk, or fn's error; fn may run more than once, in
// transactions rolled back but for the last, so it must set whatever it
// reports afresh each time.
func (c *Committer) Update(fn func(*bolt.Tx) error) error {
	w := write{fn: fn, done: make(chan error, 1)}
	select {
	case c.writes <- w:
	case <-c.stop:
		return bolt.ErrDatabaseNotOpen
	}
	err := <-w.done
	if p, ok := err.(panicked); ok {
		panic(p.v)
	}
	return err
}

// Close stops the writer, once the writes it took are answered; calls
// after the first wait likewise. It does not close the file.
func (c *Committer) Close() {
	c.once.Do(func() { close(c.stop) })
	<-c.stopped
}

func (c *Committer) run() {
	defer close(c.stopped)
	for {
		var group []write
		select {
		case w := <-c.writes:
			group = append(group, w)
		case <-c.stop:
			return
		}
	waiting:
		for len(group) < maxGroup {
			select {
			case w := <-c.writes:
				group = append(group, w)
			default:
				break waiting
			}
		}
		c.commit(group)
	}
}

// commit writes group in one transaction and answers each write.
func (c *Committer) commit(group []write) {
	for len(group) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, w := range group {
				if err := call(w.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, w := range group {
				w.done <- err
			}
			return
		}
		group[failed].done <- err
		group = slices.Delete(group, failed, failed+1)
	}
}

// panicked carries a write's panic to its caller.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprintf("groupcommit: a write panicked: %v", p.v) }

// call runs fn, turning its panic into an error for its caller.
func call(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked{v}
		}
	}()
	return fn(tx)
}
