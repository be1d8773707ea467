package locking_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// TestRedisHandsNativelyExpiredLock has Redis itself expire a lock key
// while a line waits for it, then the handed lock: Pass hands the key to
// the first in line as a "PULL JSON" value that expires with its TTL, and
// leaves nothing behind once that lapses too.
func TestRedisHandsNativelyExpiredLock(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	client := srv.Client(t)
	ctx := t.Context()
	lk := locking.NewRedis(client, "atoll:")
	key := locking.Key{Repo: "owner/repo", Dir: ".", Workspace: "default"}
	start := time.Now().UTC()
	if _, ok, err := lk.TryLock(ctx, locking.Lock{Key: key, Pull: 1, User: "alice", Time: start, Expires: start.Add(200 * time.Millisecond)}); err != nil || !ok {
		t.Fatalf("TryLock = %v, %v; want acquired", ok, err)
	}
	waiter := locking.Lock{Key: key, Pull: 2, User: "bob", Time: start, Expires: start.Add(400 * time.Millisecond)}
	if _, at, err := lk.Wait(ctx, waiter); err != nil || at != 1 {
		t.Fatalf("Wait = %d, %v; want place 1", at, err)
	}
	// Until Redis's own expiry cycle has deleted the lock, leaving the
	// line and "lines".
	waitForKeys(t, client, 2)
	turns, err := lk.Pass(ctx)
	if err != nil || len(turns) != 1 || turns[0].Pull != 2 || !turns[0].Turn {
		t.Fatalf("Pass = %+v, %v; want the key handed to pull 2", turns, err)
	}
	locks, err := client.Keys(ctx, "atoll:lock:*").Result()
	if err != nil || len(locks) != 1 {
		t.Fatalf("lock keys = %q, %v; want one", locks, err)
	}
	v, err := client.Get(ctx, locks[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	pull, js, _ := strings.Cut(v, " ")
	var rec locking.Lock
	if err := json.Unmarshal([]byte(js), &rec); err != nil || pull != "2" || rec.Key != key || rec.Pull != 2 || rec.User != "bob" || !rec.Time.Equal(turns[0].Time) {
		t.Errorf("the handed lock's value = %q (%v); want %q and the JSON of %+v", v, err, "2", turns[0])
	}
	if ttl := client.PTTL(ctx, locks[0]).Val(); ttl <= 0 || ttl > 400*time.Millisecond {
		t.Errorf("the handed lock's PTTL = %v, want its waiter's 400ms", ttl)
	}
	// The handed lock lapses too, untaken: nothing is left but the stale
	// "turns", which Pass drops.
	waitForKeys(t, client, 1)
	if turns, err := lk.Pass(ctx); err != nil || len(turns) != 0 {
		t.Fatalf("Pass after the handed lock lapsed = %+v, %v; want none", turns, err)
	}
	if keys := client.Keys(ctx, "*").Val(); len(keys) != 0 {
		t.Errorf("keys left = %q, want none", keys)
	}
}

// waitForKeys waits until Redis holds n keys, counting those expired but
// not yet deleted.
func waitForKeys(t *testing.T, client *redis.Client, n int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if client.DBSize(t.Context()).Val() == n {
			return
		}
	}
	t.Fatalf("Redis holds %q, want %d keys", client.Keys(t.Context(), "*").Val(), n)
}

// BenchmarkRedisLock measures a lock taken and released through Redis
// (the take script, then the compare-and-delete script) against the raw round trips
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
