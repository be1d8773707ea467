package runner

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking"
)

func TestKeptLock(t *testing.T) {
	const ttl = 300 * time.Millisecond
	tests := []struct {
		name string
		// renewed is whether the lock is kept while the command runs.
		renewed    bool
		wantHolder int
	}{
		{name: "a kept lock outlives its TTL", renewed: true},
		{name: "a lock not kept lapses to another pull request", wantHolder: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			locker, err := locking.OpenBolt(filepath.Join(t.TempDir(), "locks.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { locker.Close() })
			r := New(Config{Locker: locker, Policy: Policy{LockTTL: ttl}})
			ctx := t.Context()
			key := locking.Key{Repo: "acme/infra", Dir: ".", Workspace: "default"}
			lock := r.projectLock(key, 1, "alice")
			if _, ok, err := locker.TryLock(ctx, lock); err != nil || !ok {
				t.Fatalf("taking the lock: ok=%v err=%v", ok, err)
			}
			kept := r.keepLock(slog.New(slog.NewTextHandler(io.Discard, nil)), lock)
			defer kept.release()
			if !tt.renewed {
				kept.release()
			}
			time.Sleep(3 * ttl) // the command runs

			_, took, err := locker.TryLock(ctx, r.projectLock(key, 2, "bob"))
			if err != nil {
				t.Fatal(err)
			}
			if took != (tt.wantHolder == 2) {
				t.Errorf("#2 took the lock: %v, want %v", took, tt.wantHolder == 2)
			}
			holder, err := kept.held(ctx)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.wantHolder == 0 && holder != nil:
				t.Errorf("before the next step, the lock is #%d's, want #1's", holder.Pull)
			case tt.wantHolder != 0 && (holder == nil || holder.Pull != tt.wantHolder):
				t.Errorf("before the next step, the lock is taken by %+v, want #%d", holder, tt.wantHolder)
			}
		})
	}
}
