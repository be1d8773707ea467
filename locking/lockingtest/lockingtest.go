// Package lockingtest is the shared test suite every Locker backend must
// pass. A backend's test calls Run with a constructor for fresh, empty
// lockers.
package lockingtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking"
)

// Run runs the suite against lockers made by newLocker, which is called
// once per subtest and must return an empty locker that it cleans up with
// t.Cleanup. Subtests run in parallel.
func Run(t *testing.T, newLocker func(t *testing.T) locking.Locker) {
	tests := []struct {
		name string
		fn   func(t *testing.T, lk locking.Locker)
	}{
		{"AcquireFree", testAcquireFree},
		{"SamePullKeepsRecord", testSamePullKeepsRecord},
		{"OtherPullGetsHolder", testOtherPullGetsHolder},
		{"UnlockByOtherPull", testUnlockByOtherPull},
		{"UnlockByHolder", testUnlockByHolder},
		{"IndependentKeys", testIndependentKeys},
		{"ListSorted", testListSorted},
		{"Race", testRace},
		{"OddCharacters", testOddCharacters},
		{"CancelledContext", testCancelledContext},
		{"LapsedLockIsFree", testLapsedLockIsFree},
		{"SamePullExtends", testSamePullExtends},
		{"LeaseOwnership", testLeaseOwnership},
		{"LeaseRace", testLeaseRace},
		{"AbandonedLeaseLapses", testAbandonedLeaseLapses},
		{"LeaseElectsOnePoller", testLeaseElectsOnePoller},
		{"WaitFree", testWaitFree},
		{"WaitPlaces", testWaitPlaces},
		{"WaitKeepsPlace", testWaitKeepsPlace},
		{"HolderNeverWaits", testHolderNeverWaits},
		{"FreeKeyGoesToFirstInLine", testFreeKeyGoesToFirstInLine},
		{"WaitOnFreeKeyJoinsBehind", testWaitOnFreeKeyJoinsBehind},
		{"FirstInLineTakes", testFirstInLineTakes},
		{"PassHandsOnce", testPassHandsOnce},
		{"HolderWaitClearsTurn", testHolderWaitClearsTurn},
		{"Leave", testLeave},
		{"LinesSorted", testLinesSorted},
		{"HandOddCharacters", testHandOddCharacters},
		{"HandedExpiry", testHandedExpiry},
		{"LapsedGoesToFirstInLine", testLapsedGoesToFirstInLine},
		{"PassHandsLapsed", testPassHandsLapsed},
		{"HandedLockLapses", testHandedLockLapses},
		{"WaitRace", testWaitRace},
		{"PassRace", testPassRace},
		{"PassLapseJoinRace", testPassLapseJoinRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newLocker(t))
		})
	}
}

// Fixtures shared by the subtests, read-only.
var (
	key = locking.Key{Repo: "owner/repo", Dir: ".", Workspace: "default"}
	t0  = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
)

func testAcquireFree(t *testing.T, lk locking.Locker) {
	l := locking.Lock{Key: key, Pull: 1, User: "alice", Time: t0}
	holder, ok := tryLock(t, lk, l)
	if !ok {
		t.Fatalf("TryLock on a free key: acquired = false, holder %s", formatLock(holder))
	}
	assertLock(t, "holder", holder, l)
	assertList(t, lk, l)
}

func testSamePullKeepsRecord(t *testing.T, lk locking.Locker) {
	first := locking.Lock{Key: key, Pull: 1, User: "alice", Time: t0}
	tryLock(t, lk, first)
	holder, ok := tryLock(t, lk, locking.Lock{Key: key, Pull: 1, User: "bob", Time: t0.Add(time.Hour)})
	if !ok {
		t.Fatalf("TryLock by the holding pull: acquired = false, holder %s", formatLock(holder))
	}
	assertLock(t, "holder", holder, first)
	assertList(t, lk, first)
}

func testOtherPullGetsHolder(t *testing.T, lk locking.Locker) {
	first := locking.Lock{Key: key, Pull: 1, User: "alice", Time: t0}
	tryLock(t, lk, first)
	holder, ok := tryLock(t, lk, locking.Lock{Key: key, Pull: 2, User: "bob", Time: t0.Add(time.Hour)})
	if ok {
		t.Fatal("TryLock by another pull on a held key: acquired = true")
	}
	assertLock(t, "holder", holder, first)
	assertList(t, lk, first)
}

func testUnlockByOtherPull(t *testing.T, lk locking.Locker) {
	first := locking.Lock{Key: key, Pull: 1, User: "alice", Time: t0}
	tryLock(t, lk, first)
	if unlock(t, lk, key, 2) {
		t.Error("Unlock by a pull not holding the key = true")
	}
	if _, ok := tryLock(t, lk, locking.Lock{Key: key, Pull: 2, User: "bob", Time: t0}); ok {
		t.Error("after Unlock by another pull, the key is free")
	}
	assertList(t, lk, first)
}

func testUnlockByHolder(t *testing.T, lk locking.Locker) {
	tryLock(t, lk, locking.Lock{Key: key, Pull: 1, User: "alice", Time: t0})
	if !unlock(t, lk, key, 1) {
		t.Fatal("Unlock by the holder = false")
	}
	if unlock(t, lk, key, 1) {
		t.Error("second Unlock by the former holder = true")
	}
	assertList(t, lk)
	second := locking.Lock{Key: key, Pull: 2, User: "bob", Time: t0.Add(time.Hour)}
	if holder, ok := tryLock(t, lk, second); !ok {
		t.Fatalf("TryLock after Unlock: acquired = false, holder %s", formatLock(holder))
	}
	assertList(t, lk, second)
}

func testIndependentKeys(t *testing.T, lk locking.Locker) {
	keys := []locking.Key{
		key,
		{Repo: key.Repo, Dir: key.Dir, Workspace: "staging"},
		{Repo: key.Repo, Dir: "modules/net", Workspace: key.Workspace},
		{Repo: "owner/other", Dir: key.Dir, Workspace: key.Workspace},
		// The same repository name on another forge is another repository.
		{Forge: "gitlab", Repo: key.Repo, Dir: key.Dir, Workspace: key.Workspace},
		{Forge: "gitlab", Repo: "group/sub/repo", Dir: key.Dir, Workspace: key.Workspace},
	}
	var want []locking.Lock
	for i, k := range keys {
		l := locking.Lock{Key: k, Pull: i + 1, User: "alice", Time: t0}
		if holder, ok := tryLock(t, lk, l); !ok {
			t.Fatalf("TryLock %+q: acquired = false, holder %s", k, formatLock(holder))
		}
		want = append(want, l)
	}
	if !unlock(t, lk, keys[1], 2) {
		t.Fatalf("Unlock %+q by its holder = false", keys[1])
	}
	want = slices.Delete(want, 1, 2)
	slices.SortFunc(want, compareLocks)
	assertList(t, lk, want...)
}

func testListSorted(t *testing.T, lk locking.Locker) {
	want := []locking.Lock{
		{Key: locking.Key{Repo: "a/a", Dir: ".", Workspace: "default"}},
		{Key: locking.Key{Repo: "a/a", Dir: ".", Workspace: "prod"}},
		{Key: locking.Key{Repo: "a/a", Dir: "x", Workspace: "default"}},
		{Key: locking.Key{Repo: "a/b", Dir: ".", Workspace: "default"}},
		{Key: locking.Key{Repo: "b/a", Dir: ".", Workspace: "a"}},
		{Key: locking.Key{Forge: "gitlab", Repo: "a/a", Dir: ".", Workspace: "default"}},
	}
	for i := range want {
		want[i].Pull, want[i].User, want[i].Time = i+1, "alice", t0
	}
	for _, i := range []int{3, 0, 5, 4, 2, 1} {
		tryLock(t, lk, want[i])
	}
	assertList(t, lk, want...)
}

func testRace(t *testing.T, lk locking.Locker) {
	const n = 50
	type result struct {
		holder locking.Lock
		ok     bool
		err    error
	}
	var (
		results [n]result
		wg      sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			l := locking.Lock{Key: key, Pull: i + 1, User: fmt.Sprint("user", i+1), Time: t0}
			holder, ok, err := lk.TryLock(t.Context(), l)
			results[i] = result{holder, ok, err}
		})
	}
	wg.Wait()

	winner := -1
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("TryLock for pull %d: %v", i+1, r.err)
		}
		if r.ok {
			if winner >= 0 {
				t.Fatalf("pulls %d and %d both acquired the key", winner+1, i+1)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no pull acquired the key")
	}
	want := locking.Lock{Key: key, Pull: winner + 1, User: fmt.Sprint("user", winner+1), Time: t0}
	for i, r := range results {
		assertLock(t, fmt.Sprintf("holder seen by pull %d", i+1), r.holder, want)
	}
	assertList(t, lk, want)
}

func testOddCharacters(t *testing.T, lk locking.Locker) {
	keys := []locking.Key{
		// The first two collide if fields are joined with "/".
		{Repo: "a/b", Dir: "c", Workspace: "default"},
		{Repo: "a", Dir: "b/c", Workspace: "default"},
		{Repo: "owner/repo", Dir: "dir with space", Workspace: "default"},
		{Repo: "owner/repo", Dir: "répertoire/日本語", Workspace: "prod-🚀"},
		{Repo: "owner/repo", Dir: ".", Workspace: ""},
		{Repo: "owner/repo", Dir: "", Workspace: "."},
		{Repo: "owner/repo", Dir: `quote"back\slash`, Workspace: "new\nline\x00nul"},
	}
	var want []locking.Lock
	for i, k := range keys {
		l := locking.Lock{Key: k, Pull: i + 1, User: "alice", Time: t0}
		if holder, ok := tryLock(t, lk, l); !ok {
			t.Fatalf("TryLock %+q: acquired = false, holder %s", k, formatLock(holder))
		}
		want = append(want, l)
	}
	slices.SortFunc(want, compareLocks)
	assertList(t, lk, want...)
}

func testCancelledContext(t *testing.T, lk locking.Locker) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	l := locking.Lock{Key: key, Pull: 1, User: "alice", Time: t0}
	if _, _, err := lk.TryLock(ctx, l); !errors.Is(err, context.Canceled) {
		t.Errorf("TryLock with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, err := lk.Unlock(ctx, key, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Unlock with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, err := lk.List(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, _, err := lk.Wait(ctx, l); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, err := lk.Leave(ctx, key, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Leave with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, err := lk.Lines(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Lines with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, err := lk.Pass(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Pass with a cancelled context: err = %v, want context.Canceled", err)
	}
}

// soon is a near future for expiries, in whole milliseconds (what Redis
// keeps).
func soon(d time.Duration) time.Time { return time.Now().Add(d).Truncate(time.Millisecond) }

// waitUntil polls cond until it holds, failing after a generous bound.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func testLapsedLockIsFree(t *testing.T, lk locking.Locker) {
	first := locking.Lock{Key: key, Pull: 1, User: "alice", Time: t0, Expires: soon(time.Second)}
	if holder, ok := tryLock(t, lk, first); !ok {
		t.Fatalf("TryLock on a free key: holder %s", formatLock(holder))
	}
	second := locking.Lock{Key: key, Pull: 2, User: "bob", Time: t0}
	if holder, ok := tryLock(t, lk, second); ok || !equalLocks(holder, first) {
		t.Fatalf("TryLock on a held key = %s, %v; want held by %s", formatLock(holder), ok, formatLock(first))
	}
	waitUntil(t, "the lock to lapse", func() bool {
		got, err := lk.List(t.Context())
		return err == nil && len(got) == 0
	})
	if unlock(t, lk, key, 1) {
		t.Error("Unlock of a lapsed lock reported releasing it")
	}
	if holder, ok := tryLock(t, lk, second); !ok {
		t.Fatalf("TryLock on a lapsed key: holder %s", formatLock(holder))
	}
	assertList(t, lk, second)
}

func testSamePullExtends(t *testing.T, lk locking.Locker) {
	first := locking.Lock{Key: key, Pull: 1, User: "alice", Time: t0, Expires: soon(time.Second)}
	tryLock(t, lk, first)
	// Taken again by the same pull request, without expiry: the record is
	// the first one's, the expiry the second's.
	again := locking.Lock{Key: key, Pull: 1, User: "carol", Time: t0.Add(time.Hour)}
	holder, ok := tryLock(t, lk, again)
	want := first
	want.Expires = time.Time{}
	if !ok || !equalLocks(holder, want) {
		t.Fatalf("TryLock by the holder = %s, %v; want %s", formatLock(holder), ok, formatLock(want))
	}
	time.Sleep(1200 * time.Millisecond)
	assertList(t, lk, want)
	later := soon(time.Hour)
	want.Expires = later
	again.Expires = later
	if holder, ok := tryLock(t, lk, again); !ok || !equalLocks(holder, want) {
		t.Fatalf("TryLock by the holder = %s, %v; want %s", formatLock(holder), ok, formatLock(want))
	}
	assertList(t, lk, want)
}

func testLeaseOwnership(t *testing.T, lk locking.Locker) {
	ctx := t.Context()
	check := func(what string, got bool, err error, want bool) {
		t.Helper()
		if err != nil || got != want {
			t.Fatalf("%s = %v, %v; want %v", what, got, err, want)
		}
	}
	ok, err := lk.Acquire(ctx, "job", "a", time.Minute)
	check("Acquire a free lease", ok, err, true)
	ok, err = lk.Acquire(ctx, "job", "b", time.Minute)
	check("Acquire a held lease", ok, err, false)
	ok, err = lk.Acquire(ctx, "other", "b", time.Minute)
	check("Acquire another lease", ok, err, true)
	ok, err = lk.Renew(ctx, "job", "b", time.Minute)
	check("Renew by another owner", ok, err, false)
	ok, err = lk.Release(ctx, "job", "b")
	check("Release by another owner", ok, err, false)
	ok, err = lk.Renew(ctx, "job", "a", time.Minute)
	check("Renew by the owner", ok, err, true)
	ok, err = lk.Acquire(ctx, "job", "a", time.Minute)
	check("Acquire by the owner", ok, err, true)
	ok, err = lk.Release(ctx, "job", "a")
	check("Release by the owner", ok, err, true)
	ok, err = lk.Release(ctx, "job", "a")
	check("Release again", ok, err, false)
	ok, err = lk.Renew(ctx, "job", "a", time.Minute)
	check("Renew after release", ok, err, false)
	ok, err = lk.Acquire(ctx, "job", "b", time.Minute)
	check("Acquire a released lease", ok, err, true)
}

func testLeaseRace(t *testing.T, lk locking.Locker) {
	const n = 50
	var (
		won [n]bool
		wg  sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			ok, err := lk.Acquire(t.Context(), "job", fmt.Sprint("owner", i), time.Minute)
			if err != nil {
				t.Errorf("Acquire for owner%d: %v", i, err)
			}
			won[i] = ok
		})
	}
	wg.Wait()
	var winners []int
	for i, ok := range won {
		if ok {
			winners = append(winners, i)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("owners %v acquired the lease, want exactly one", winners)
	}
	if ok, err := lk.Renew(t.Context(), "job", fmt.Sprint("owner", winners[0]), time.Minute); err != nil || !ok {
		t.Errorf("the winner cannot renew: %v, %v", ok, err)
	}
}

func testAbandonedLeaseLapses(t *testing.T, lk locking.Locker) {
	ctx := t.Context()
	if ok, err := lk.Acquire(ctx, "job", "dead", time.Second); err != nil || !ok {
		t.Fatalf("Acquire = %v, %v", ok, err)
	}
	if ok, err := lk.Acquire(ctx, "job", "alive", time.Minute); err != nil || ok {
		t.Fatalf("Acquire of a live lease = %v, %v; want false", ok, err)
	}
	waitUntil(t, "the abandoned lease to lapse", func() bool {
		ok, err := lk.Acquire(ctx, "job", "alive", time.Minute)
		return err == nil && ok
	})
	// Its old owner has lost it for good.
	if ok, err := lk.Renew(ctx, "job", "dead", time.Minute); err != nil || ok {
		t.Errorf("Renew by the old owner = %v, %v; want false", ok, err)
	}
	if ok, err := lk.Release(ctx, "job", "dead"); err != nil || ok {
		t.Errorf("Release by the old owner = %v, %v; want false", ok, err)
	}
	if ok, err := lk.Renew(ctx, "job", "alive", time.Minute); err != nil || !ok {
		t.Errorf("Renew by the new owner = %v, %v; want true", ok, err)
	}
}

// testLeaseElectsOnePoller plays what leases are for: replicas that each
// want to be the one that polls the forge take a lease and renew it while
// they poll. One polls at a time; when it dies, another takes over within
// the lease's TTL or two.
func testLeaseElectsOnePoller(t *testing.T, lk locking.Locker) {
	const ttl = time.Second
	type replica struct {
		name string
		stop context.CancelFunc
		done chan struct{}
	}
	var mu sync.Mutex
	leaders := map[string]bool{} // who believes it polls
	overlap := ""
	run := func(name string) replica {
		ctx, stop := context.WithCancel(t.Context())
		r := replica{name: name, stop: stop, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			leading := false
			for ctx.Err() == nil {
				var ok bool
				var err error
				if leading {
					ok, err = lk.Renew(ctx, "poller", name, ttl)
				} else {
					ok, err = lk.Acquire(ctx, "poller", name, ttl)
				}
				leading = err == nil && ok
				mu.Lock()
				leaders[name] = leading
				if n := countTrue(leaders); n > 1 && overlap == "" {
					overlap = fmt.Sprintf("%v", leaders)
				}
				mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(ttl / 4):
				}
			}
		}()
		return r
	}
	leader := func() string {
		mu.Lock()
		defer mu.Unlock()
		for name, ok := range leaders {
			if ok {
				return name
			}
		}
		return ""
	}
	replicas := map[string]replica{}
	for _, name := range []string{"a", "b", "c"} {
		replicas[name] = run(name)
	}
	waitUntil(t, "a replica to poll", func() bool { return leader() != "" })
	first := leader()
	// It dies without letting the lease go.
	replicas[first].stop()
	<-replicas[first].done
	mu.Lock()
	delete(leaders, first)
	mu.Unlock()
	died := time.Now()
	waitUntil(t, "another replica to take over", func() bool { return leader() != "" })
	if took := time.Since(died); took > 2*ttl+ttl/2 {
		t.Errorf("another replica took over %v after the poller died, want within about two TTLs (%v)", took, 2*ttl)
	}
	for name, r := range replicas {
		if name != first {
			r.stop()
			<-r.done
		}
	}
	if overlap != "" {
		t.Errorf("two replicas polled at once: %s", overlap)
	}
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

func tryLock(t *testing.T, lk locking.Locker, l locking.Lock) (locking.Lock, bool) {
	t.Helper()
	holder, ok, err := lk.TryLock(t.Context(), l)
	if err != nil {
		t.Fatalf("TryLock %s: %v", formatLock(l), err)
	}
	return holder, ok
}

func unlock(t *testing.T, lk locking.Locker, k locking.Key, pull int) bool {
	t.Helper()
	ok, err := lk.Unlock(t.Context(), k, pull)
	if err != nil {
		t.Fatalf("Unlock %+q for pull %d: %v", k, pull, err)
	}
	return ok
}

// assertList checks that lk holds exactly want, in order.
func assertList(t *testing.T, lk locking.Locker, want ...locking.Lock) {
	t.Helper()
	got, err := lk.List(t.Context())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.EqualFunc(got, want, equalLocks) {
		t.Fatalf("List:\n got %s\nwant %s", formatLocks(got), formatLocks(want))
	}
}

func assertLock(t *testing.T, what string, got, want locking.Lock) {
	t.Helper()
	if !equalLocks(got, want) {
		t.Errorf("%s = %s, want %s", what, formatLock(got), formatLock(want))
	}
}

// equalLocks compares times with Equal, as a backend may not keep the
// location or monotonic reading.
func equalLocks(a, b locking.Lock) bool {
	return a.Key == b.Key && a.Pull == b.Pull && a.User == b.User && a.Time.Equal(b.Time) && a.Expires.Equal(b.Expires) && a.Turn == b.Turn
}

// compareLocks orders locks by key, as List does.
func compareLocks(a, b locking.Lock) int {
	return cmp.Or(
		cmp.Compare(a.Key.Forge, b.Key.Forge),
		cmp.Compare(a.Key.Repo, b.Key.Repo),
		cmp.Compare(a.Key.Dir, b.Key.Dir),
		cmp.Compare(a.Key.Workspace, b.Key.Workspace),
	)
}

// formatLock quotes a lock's strings, which may hold any characters.
func formatLock(l locking.Lock) string {
	return fmt.Sprintf("{%+q Pull:%d User:%q Time:%s Expires:%s Turn:%t}", l.Key, l.Pull, l.User, l.Time.Format(time.RFC3339Nano), l.Expires.Format(time.RFC3339Nano), l.Turn)
}

func formatLocks(ls []locking.Lock) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = formatLock(l)
	}
	return "[" + strings.Join(s, " ") + "]"
}
