package runner

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/atoll-iac/atoll/locking"
)

// keptLock is a project lock taken with a lock TTL, taken again in the
// background while its project's command runs, so that a command that
// outlasts the TTL keeps the lock to its end. The zero of *keptLock (nil)
// is a lock without a TTL, which needs no keeping.
type keptLock struct {
	r    *Runner
	lock locking.Lock
	stop func()

	mu sync.Mutex
	// until is when the lock lapses unless taken again.
	until time.Time
	// holder, once set, is the pull request that took the lock after it
	// lapsed.
	holder *locking.Lock
}

// keepLock keeps l, just taken, until release is called.
func (r *Runner) keepLock(log *slog.Logger, l locking.Lock) *keptLock {
	if l.Expires.IsZero() {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	k := &keptLock{r: r, lock: l, until: l.Expires, stop: func() { cancel(); <-done }}
	go func() {
		defer close(done)
		tick := time.NewTicker(r.policy.LockTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := k.renew(ctx); err != nil && ctx.Err() == nil {
				log.Warn("renewing the project lock", "err", err)
			}
			if k.lost() != nil {
				return
			}
		}
	}()
	return k
}

// renew takes the lock again, for the TTL from now.
func (k *keptLock) renew(ctx context.Context) error {
	l := k.r.projectLock(k.lock.Key, k.lock.Pull, k.lock.User)
	ctx, cancel := context.WithTimeout(ctx, k.r.policy.LockTTL/3)
	defer cancel()
	holder, ok, err := k.r.locker.TryLock(ctx, l)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if ok {
		k.until = l.Expires
	} else {
		k.holder = &holder
	}
	return nil
}

// lost returns the lock of the pull request that took the key from this
// one, or nil.
func (k *keptLock) lost() *locking.Lock {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.holder
}

// held makes sure, before a step runs, that the lock is still the pull
// request's: it returns the lock of another pull request that took it,
// or nil. When the lock was not renewed lately, it is taken again first.
func (k *keptLock) held(ctx context.Context) (*locking.Lock, error) {
	if k == nil {
		return nil, nil
	}
	k.mu.Lock()
	stale := time.Until(k.until) < k.r.policy.LockTTL/2
	k.mu.Unlock()
	if stale {
		if err := k.renew(ctx); err != nil {
			return nil, err
		}
	}
	return k.lost(), nil
}

// release stops keeping the lock; the lock itself stays until it lapses
// or is unlocked.
func (k *keptLock) release() {
	if k != nil {
		k.stop()
	}
}
