// Package locking owns project locks: the Locker interface, the typed Key a
// lock is held on, and its backends (bbolt, embedded, in this package; Redis
// later). A lock keeps other pull requests off a project between its plan
// and its apply. Every backend passes the shared suite in
// locking/lockingtest.
package locking

import (
	"context"
	"time"
)

// Key names what a lock covers: one project directory in one workspace of
// one repository. It is comparable and never parsed back from a string.
type Key struct {
	// Repo is the repository's full name, "owner/name".
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
}

// Locker takes and releases project locks. Implementations are safe for
// concurrent use, and TryLock is atomic: of any number of callers racing for
// a free key, exactly one wins.
type Locker interface {
	// TryLock takes l.Key for l.Pull. It reports acquired when the key was
	// free or already held by the same pull request (which then keeps its
	// original record); otherwise it returns the holder's lock.
	TryLock(ctx context.Context, l Lock) (holder Lock, acquired bool, err error)
	// Unlock releases key if pull holds it, and reports whether it did.
	Unlock(ctx context.Context, key Key, pull int) (bool, error)
	// List returns every held lock, ordered by key.
	List(ctx context.Context) ([]Lock, error)
}
