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
	}
	for i := range want {
		want[i].Pull, want[i].User, want[i].Time = i+1, "alice", t0
	}
	for _, i := range []int{3, 0, 4, 2, 1} {
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
	return a.Key == b.Key && a.Pull == b.Pull && a.User == b.User && a.Time.Equal(b.Time)
}

// compareLocks orders locks by key, as List does.
func compareLocks(a, b locking.Lock) int {
	return cmp.Or(
		cmp.Compare(a.Key.Repo, b.Key.Repo),
		cmp.Compare(a.Key.Dir, b.Key.Dir),
		cmp.Compare(a.Key.Workspace, b.Key.Workspace),
	)
}

// formatLock quotes a lock's strings, which may hold any characters.
func formatLock(l locking.Lock) string {
	return fmt.Sprintf("{%+q Pull:%d User:%q Time:%s}", l.Key, l.Pull, l.User, l.Time.Format(time.RFC3339Nano))
}

func formatLocks(ls []locking.Lock) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = formatLock(l)
	}
	return "[" + strings.Join(s, " ") + "]"
}
