package locking_test

import (
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/locking/lockingtest"
	"github.com/atoll-iac/atoll/locking/redistest"
)

func TestRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	client := srv.Client(t)
	lockingtest.Run(t, func(t *testing.T) locking.Locker {
		// One server; each subtest its own prefix, so an empty locker.
		return locking.NewRedis(client, t.Name()+":")
	})
}

// BenchmarkRedisLock measures a lock taken and released through Redis
// (SET NX, then the compare-and-delete script) against the raw round trips
// it builds on, SET NX PX and DEL, on the same server: their ratio is
// what the owner checks cost.
func BenchmarkRedisLock(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	client := srv.Client(b)
	lk := locking.NewRedis(client, "bench:")
	l := locking.Lock{Key: locking.Key{Repo: "owner/repo", Dir: ".", Workspace: "default"}, Pull: 1, User: "alice", Time: time.Now()}
	lockUnlock := func(b *testing.B) {
		if _, ok, err := lk.TryLock(b.Context(), l); err != nil || !ok {
			b.Fatalf("TryLock = %v, %v", ok, err)
		}
		if ok, err := lk.Unlock(b.Context(), l.Key, l.Pull); err != nil || !ok {
			b.Fatalf("Unlock = %v, %v", ok, err)
		}
	}
	setNXDel := func(b *testing.B) {
		if ok, err := client.SetNX(b.Context(), "bench:raw", "1", time.Minute).Result(); err != nil || !ok {
			b.Fatalf("SET NX = %v, %v", ok, err)
		}
		if err := client.Del(b.Context(), "bench:raw").Err(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("TryLockUnlock", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			lockUnlock(b)
		}
	})
	b.Run("RawSetNXDel", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			setNXDel(b)
		}
	})
	// Both in turn, so that a busy machine weighs on both alike: the lock's
	// cost as a multiple of the raw round trips'.
	b.Run("Ratio", func(b *testing.B) {
		var locked, raw time.Duration
		for b.Loop() {
			start := time.Now()
			lockUnlock(b)
			mid := time.Now()
			setNXDel(b)
			locked, raw = locked+mid.Sub(start), raw+time.Since(mid)
		}
		b.ReportMetric(float64(locked)/float64(raw), "x-raw")
	})
}
