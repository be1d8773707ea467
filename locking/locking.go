// Package locking owns what keeps work apart: project locks, which keep
// other pull requests off a project between its plan and its apply, and
// leases, which keep one job at a time on a piece of work across processes
// and lapse when their holder dies; and the lines of pull requests
// waiting for a held lock, which get it in turn. It holds the Locker
// interface, the typed Key a lock is held on, and its backends: bbolt
// (embedded, one process) and Redis (shared by replicas). Every backend
// passes the shared suite in locking/lockingtest.
package locking

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Key names what a lock covers: one project directory in one workspace of
// one repository on one forge. It is comparable and never parsed back from
// a string.
type Key struct {
	// Forge names the forge the repository is on ("github", "gitlab"): a
	// server may serve two repositories of one name, one on each.
	Forge string
	// Repo is the repository's full name: "owner/name", or a path with
	// subgroups, "group/sub/name".
	Repo string
	// Dir is the project directory relative to the repository root, "." for the root.
	Dir string
	// Workspace is the tofu/terraform workspace.
	Workspace string
}

// Lock is a held lock: who holds which key, since when.
type Lock struct {
	Key Key
	// Pull is the number of the pull request holding the lock.
	Pull int
	// User is who caused the lock to be taken.
	User string
	Time time.Time
	// Expires is when the lock lapses unless its pull request takes it
	// again first; zero for never. A lapsed lock is free.
	Expires time.Time
	// Turn is set on a lock handed to the first pull request in its
	// key's line (Liner), until that pull request takes it itself
	// (TryLock or Wait): whoever handed it over has yet to tell it.
	Turn bool `json:",omitempty"`
}

// Lapsed reports whether the lock has expired at now.
func (l Lock) Lapsed(now time.Time) bool { return !l.Expires.IsZero() && !now.Before(l.Expires) }

// Locker takes and releases project locks, keeps the lines waiting for
// them, and hands out leases. Implementations are safe for concurrent
// use, and each call is atomic: of any number of callers racing for a
// free key or lease, exactly one wins, and a key with a line goes to the
// first in it, never to a caller who jumped the line.
type Locker interface {
	// TryLock takes l.Key for l.Pull until l.Expires. It reports acquired
	// when the key was free (or its lock lapsed) or already held by the
	// same pull request, which then keeps its original record but with
	// l.Expires and without Turn; otherwise it returns the holder's lock.
	// A free key with a line goes to l.Pull only when it is first in
	// line, and leaves the line; else to the first in line, with Turn
	// set, and that is the holder returned.
	TryLock(ctx context.Context, l Lock) (holder Lock, acquired bool, err error)
	// Unlock releases key if pull holds it, and reports whether it did.
	// A line waiting for the key gets it at the next Pass, or at a
	// TryLock or Wait of the key, whichever comes first.
	Unlock(ctx context.Context, key Key, pull int) (bool, error)
	// List returns every held lock that has not lapsed, ordered by key.
	List(ctx context.Context) ([]Lock, error)

	Liner
	Leaser
}

// Waiter is a pull request in line for a key.
type Waiter struct {
	Pull int
	// User asked for the work that put the pull request in line.
	User string
	// Time is when it joined the line.
	Time time.Time
	// TTL is how long the lock it is handed lasts; zero for ever.
	TTL time.Duration
}

// Line is the pull requests waiting for one key, first first.
type Line struct {
	Key     Key
	Waiting []Waiter
}

// Liner keeps the lines of pull requests waiting for held keys. A pull
// request keeps its place until it leaves the line, or gets the key: a
// push to it changes nothing.
type Liner interface {
	// Wait is TryLock that, when another pull request holds l.Key, puts
	// l.Pull in its line, after those already there, unless it is in it
	// already (it then keeps its place). It returns the holder, and
	// l.Pull's place in line counting from 1, or 0 when it acquired the
	// key. Joining, l.Pull is a Waiter of l.User, from l.Time, with the
	// TTL from l.Time to l.Expires (zero for none).
	Wait(ctx context.Context, l Lock) (holder Lock, place int, err error)
	// Leave takes pull out of key's line, and reports whether it was in
	// it.
	Leave(ctx context.Context, key Key, pull int) (bool, error)
	// Lines returns every line with a pull request in it, ordered by key.
	Lines(ctx context.Context) ([]Line, error)
	// Pass hands every key that is free (released, lapsed, never held)
	// and has a line to the first pull request in it, which leaves the
	// line: its lock, from now for its Waiter's TTL, has Turn set. It
	// returns every lock held with Turn set, those handed before this
	// call included, ordered by key.
	Pass(ctx context.Context) ([]Lock, error)
}

// handed is the lock w gets when key is handed to it from its line at
// now.
func (w Waiter) handed(key Key, now time.Time) Lock {
	l := Lock{Key: key, Pull: w.Pull, User: w.User, Time: now.UTC(), Turn: true}
	if w.TTL > 0 {
		l.Expires = l.Time.Add(w.TTL)
	}
	return l
}

// waiter is the Waiter l.Pull becomes when it joins l.Key's line.
func waiter(l Lock) Waiter {
	w := Waiter{Pull: l.Pull, User: l.User, Time: l.Time}
	if !l.Expires.IsZero() {
		w.TTL = l.Expires.Sub(l.Time)
	}
	return w
}

// place is pull's place in waiting, counting from 1; 0 when it is not
// in it.
func place(waiting []Waiter, pull int) int {
	for i, w := range waiting {
		if w.Pull == pull {
			return i + 1
		}
	}
	return 0
}

// Leaser hands out leases: a named piece of work held by one owner (a
// process, a job) for a while, renewed while the work goes on. A lease
// whose owner stops renewing it lapses, and is free again.
type Leaser interface {
	// Acquire takes the lease name for owner for ttl, if it is free or
	// lapsed, and reports whether it did.
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// Renew extends owner's lease name to ttl from now; false when owner
	// does not hold it (it lapsed, perhaps to someone else).
	Renew(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// Release gives owner's lease name up; false when owner did not hold
	// it.
	Release(ctx context.Context, name, owner string) (bool, error)
}

// compareLocks orders locks by key.
func compareLocks(a, b Lock) int { return compareKeys(a.Key, b.Key) }

// compareKeys orders keys by forge, repository, directory and workspace.
func compareKeys(a, b Key) int {
	return cmp.Or(
		cmp.Compare(a.Forge, b.Forge),
		cmp.Compare(a.Repo, b.Repo),
		cmp.Compare(a.Dir, b.Dir),
		cmp.Compare(a.Workspace, b.Workspace),
	)
}

// encodeKey returns k's bucket key: each field as its length (uvarint)
// followed by its bytes, so distinct keys never share an encoding whatever
// characters they hold. The encoding is only ever looked up, never decoded.
func encodeKey(k Key) []byte {
	b := make([]byte, 0, len(k.Forge)+len(k.Repo)+len(k.Dir)+len(k.Workspace)+4*binary.MaxVarintLen16)
	for _, s := range [...]string{k.Forge, k.Repo, k.Dir, k.Workspace} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// decodeLock decodes a stored lock record.
func decodeLock(v []byte) (Lock, error) {
	var l Lock
	if err := json.Unmarshal(v, &l); err != nil {
		return Lock{}, fmt.Errorf("locking: decoding lock record: %w", err)
	}
	return l, nil
}
