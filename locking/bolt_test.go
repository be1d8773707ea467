package locking_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/locking/lockingtest"
)

func TestBolt(t *testing.T) {
	lockingtest.Run(t, func(t *testing.T) locking.Locker {
		return openBolt(t, filepath.Join(t.TempDir(), "locks.db"))
	})
}

func TestBoltKeepsLocksAcrossRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "locks.db")
	key := locking.Key{Repo: "owner/repo", Dir: ".", Workspace: "default"}
	want := locking.Lock{Key: key, Pull: 1, User: "alice", Time: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}

	b, err := locking.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.TryLock(t.Context(), want); err != nil || !ok {
		t.Fatalf("TryLock = %v, %v; want acquired", ok, err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b = openBolt(t, path)
	got, err := b.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != 1 || got[0].Key != key || got[0].Pull != 1 || got[0].User != "alice" || !got[0].Time.Equal(want.Time) {
		t.Fatalf("List after reopen = %+v, want [%+v]", got, want)
	}
	if holder, ok, err := b.TryLock(t.Context(), locking.Lock{Key: key, Pull: 2}); err != nil || ok || holder.Pull != 1 {
		t.Fatalf("TryLock by another pull after reopen = %+v, %v, %v; want held by pull 1", holder, ok, err)
	}
}

func TestBoltOpenTwiceFails(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "locks.db")
	openBolt(t, path)

	start := time.Now()
	b, err := locking.OpenBolt(path)
	if err == nil {
		b.Close()
		t.Fatal("second OpenBolt on an open store succeeded")
	}
	if !errors.Is(err, berrors.ErrTimeout) {
		t.Errorf("second OpenBolt: err = %v, want bbolt's timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second OpenBolt took %v to fail", d)
	}
}

func TestBoltSetsZeroTime(t *testing.T) {
	t.Parallel()
	b := openBolt(t, filepath.Join(t.TempDir(), "locks.db"))
	before := time.Now()
	l := locking.Lock{Key: locking.Key{Repo: "owner/repo", Dir: ".", Workspace: "default"}, Pull: 1}
	holder, _, err := b.TryLock(t.Context(), l)
	if err != nil {
		t.Fatal(err)
	}
	if holder.Time.Before(before.Add(-time.Second)) || holder.Time.After(time.Now()) {
		t.Errorf("TryLock with zero Time: holder.Time = %v, want about %v", holder.Time, before)
	}
}

func BenchmarkBoltTryLockUnlock(b *testing.B) {
	lk, err := locking.OpenBolt(filepath.Join(b.TempDir(), "locks.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer lk.Close()
	l := locking.Lock{Key: locking.Key{Repo: "owner/repo", Dir: ".", Workspace: "default"}, Pull: 1, User: "alice", Time: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := lk.TryLock(b.Context(), l); err != nil || !ok {
			b.Fatalf("TryLock = %v, %v", ok, err)
		}
		if ok, err := lk.Unlock(b.Context(), l.Key, l.Pull); err != nil || !ok {
			b.Fatalf("Unlock = %v, %v", ok, err)
		}
	}
}

// openBolt opens the store at path and closes it when t ends.
func openBolt(t *testing.T, path string) *locking.Bolt {
	t.Helper()
	b, err := locking.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}
