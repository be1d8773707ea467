package lockingtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking"
)

// The subtests of the lines: pull requests waiting for a held key
// (locking.Liner), and how a free key with a line goes to the first in
// it.

func testWaitFree(t *testing.T, lk locking.Locker) {
	l := request(key, 1, now(), time.Hour)
	holder, at := wait(t, lk, l)
	if at != 0 {
		t.Errorf("Wait on a free key: place %d, want 0 (acquired)", at)
	}
	assertLock(t, "holder", holder, l)
	assertList(t, lk, l)
	assertLines(t, lk)
}

func testWaitPlaces(t *testing.T, lk locking.Locker) {
	start := now()
	first := request(key, 1, start, 0)
	tryLock(t, lk, first)
	var want []locking.Waiter
	for i, pull := range []int{7, 3, 5} {
		l := request(key, pull, start.Add(time.Duration(i)*time.Second), time.Duration(i+1)*time.Hour)
		holder, at := wait(t, lk, l)
		if at != i+1 {
			t.Errorf("Wait by pull %d, joining after %d others: place %d, want %d", pull, i, at, i+1)
		}
		assertLock(t, fmt.Sprintf("holder seen by pull %d", pull), holder, first)
		want = append(want, waiterOf(l))
	}
	assertList(t, lk, first)
	assertLines(t, lk, locking.Line{Key: key, Waiting: want})
}

func testWaitKeepsPlace(t *testing.T, lk locking.Locker) {
	start := now()
	first := request(key, 1, start, 0)
	tryLock(t, lk, first)
	l2, l3 := request(key, 2, start, time.Hour), request(key, 3, start, 0)
	wait(t, lk, l2)
	wait(t, lk, l3)
	// Asked again, by someone else, later, for another TTL: the same
	// place, and the waiter as it joined.
	for at, l := range []locking.Lock{l2, l3} {
		again := request(key, l.Pull, start.Add(time.Minute), 5*time.Hour)
		again.User = "someone else"
		holder, got := wait(t, lk, again)
		if got != at+1 {
			t.Errorf("Wait again by pull %d: place %d, want %d", l.Pull, got, at+1)
		}
		assertLock(t, fmt.Sprintf("holder seen by pull %d", l.Pull), holder, first)
	}
	// Refused by TryLock, it keeps its place too.
	if _, ok := tryLock(t, lk, request(key, 3, start, 0)); ok {
		t.Fatal("TryLock by a waiter on a held key: acquired = true")
	}
	assertLines(t, lk, locking.Line{Key: key, Waiting: []locking.Waiter{waiterOf(l2), waiterOf(l3)}})
}

func testHolderNeverWaits(t *testing.T, lk locking.Locker) {
	start := now()
	first := request(key, 1, start, 0)
	if _, at := wait(t, lk, first); at != 0 {
		t.Fatalf("Wait on a free key: place %d, want 0", at)
	}
	l2 := request(key, 2, start, 0)
	wait(t, lk, l2)
	again := request(key, 1, start.Add(time.Minute), time.Hour)
	holder, at := wait(t, lk, again)
	want := first
	want.Expires = again.Expires
	if at != 0 {
		t.Errorf("Wait by the holder: place %d, want 0", at)
	}
	assertLock(t, "holder seen by the holder's Wait", holder, want)
	if holder, ok := tryLock(t, lk, first); !ok {
		t.Errorf("TryLock by the holder: acquired = false, holder %s", formatLock(holder))
	}
	assertList(t, lk, first)
	assertLines(t, lk, locking.Line{Key: key, Waiting: []locking.Waiter{waiterOf(l2)}})
}

func testFreeKeyGoesToFirstInLine(t *testing.T, lk locking.Locker) {
	start := now()
	tryLock(t, lk, request(key, 1, start, 0))
	l2, l3 := request(key, 2, start, time.Hour), request(key, 3, start, 0)
	wait(t, lk, l2)
	wait(t, lk, l3)
	unlock(t, lk, key, 1)

	before := time.Now()
	holder, ok := tryLock(t, lk, request(key, 4, start, 0))
	after := time.Now()
	if ok {
		t.Fatal("TryLock by an outsider on a free key with a line: acquired = true")
	}
	assertHanded(t, "holder seen by the outsider", holder, key, waiterOf(l2), before, after)
	assertList(t, lk, holder)
	assertLines(t, lk, locking.Line{Key: key, Waiting: []locking.Waiter{waiterOf(l3)}})
}

func testWaitOnFreeKeyJoinsBehind(t *testing.T, lk locking.Locker) {
	start := now()
	tryLock(t, lk, request(key, 1, start, 0))
	l2, l3, l4 := request(key, 2, start, 0), request(key, 3, start, 0), request(key, 4, start, 0)
	wait(t, lk, l2)
	wait(t, lk, l3)
	unlock(t, lk, key, 1)

	// The second in line does not jump the first: it hands the key on and
	// moves up.
	before := time.Now()
	holder, at := wait(t, lk, l3)
	after := time.Now()
	if at != 1 {
		t.Errorf("Wait by the second in line on a free key: place %d, want 1", at)
	}
	assertHanded(t, "holder seen by the second in line", holder, key, waiterOf(l2), before, after)
	if got, at := wait(t, lk, l4); at != 2 || !equalLocks(got, holder) {
		t.Errorf("Wait by an outsider = %s, place %d; want %s, place 2", formatLock(got), at, formatLock(holder))
	}
	assertList(t, lk, holder)
	assertLines(t, lk, locking.Line{Key: key, Waiting: []locking.Waiter{waiterOf(l3), waiterOf(l4)}})
}

func testFirstInLineTakes(t *testing.T, lk locking.Locker) {
	start := now()
	tryLock(t, lk, request(key, 1, start, 0))
	l3 := request(key, 3, start, 0)
	wait(t, lk, request(key, 2, start, time.Hour))
	wait(t, lk, l3)
	unlock(t, lk, key, 1)

	l2 := request(key, 2, start.Add(time.Minute), 0)
	holder, ok := tryLock(t, lk, l2)
	if !ok {
		t.Fatalf("TryLock by the first in line on a free key: acquired = false, holder %s", formatLock(holder))
	}
	assertLock(t, "holder", holder, l2)
	assertList(t, lk, l2)
	assertLines(t, lk, locking.Line{Key: key, Waiting: []locking.Waiter{waiterOf(l3)}})
	assertPass(t, lk)
}

func testPassHandsOnce(t *testing.T, lk locking.Locker) {
	start := now()
	first := request(key, 1, start, 0)
	tryLock(t, lk, first)
	l2, l3 := request(key, 2, start, time.Hour), request(key, 3, start, 0)
	wait(t, lk, l2)
	wait(t, lk, l3)
	assertPass(t, lk) // held: nothing to hand
	assertList(t, lk, first)
	unlock(t, lk, key, 1)

	before := time.Now()
	turns := pass(t, lk)
	after := time.Now()
	if len(turns) != 1 {
		t.Fatalf("Pass after Unlock = %s, want the key handed to pull 2", formatLocks(turns))
	}
	handed := turns[0]
	assertHanded(t, "lock handed by Pass", handed, key, waiterOf(l2), before, after)
	assertList(t, lk, handed)
	line := locking.Line{Key: key, Waiting: []locking.Waiter{waiterOf(l3)}}
	assertLines(t, lk, line)

	// Until pull 2 takes it, Pass returns it again, handing nothing more.
	assertPass(t, lk, handed)
	assertList(t, lk, handed)
	assertLines(t, lk, line)

	// Taking it clears Turn.
	holder, ok := tryLock(t, lk, request(key, 2, start.Add(time.Minute), 0))
	want := handed
	want.Expires, want.Turn = time.Time{}, false
	if !ok || !equalLocks(holder, want) {
		t.Fatalf("TryLock by the pull handed the key = %s, %v; want %s, true", formatLock(holder), ok, formatLock(want))
	}
	assertList(t, lk, want)
	assertPass(t, lk)
	assertLines(t, lk, line)
}

func testHolderWaitClearsTurn(t *testing.T, lk locking.Locker) {
	start := now()
	tryLock(t, lk, request(key, 1, start, 0))
	wait(t, lk, request(key, 2, start, 0))
	unlock(t, lk, key, 1)
	turns := pass(t, lk)
	if len(turns) != 1 {
		t.Fatalf("Pass after Unlock = %s, want the key handed to pull 2", formatLocks(turns))
	}
	again := request(key, 2, start.Add(time.Minute), 2*time.Hour)
	holder, at := wait(t, lk, again)
	want := turns[0]
	want.Expires, want.Turn = again.Expires, false
	if at != 0 || !equalLocks(holder, want) {
		t.Fatalf("Wait by the pull handed the key = %s, place %d; want %s, place 0", formatLock(holder), at, formatLock(want))
	}
	assertList(t, lk, want)
	assertPass(t, lk)
	assertLines(t, lk)
}

func testLeave(t *testing.T, lk locking.Locker) {
	start := now()
	tryLock(t, lk, request(key, 1, start, 0))
	l2, l3, l4 := request(key, 2, start, 0), request(key, 3, start, time.Hour), request(key, 4, start, 0)
	for _, l := range []locking.Lock{l2, l3, l4} {
		wait(t, lk, l)
	}
	other := locking.Key{Repo: key.Repo, Dir: key.Dir, Workspace: "other"}
	for _, c := range []struct {
		what string
		key  locking.Key
		pull int
		want bool
	}{
		{"a waiter", key, 3, true},
		{"the same waiter again", key, 3, false},
		{"a pull never in line", key, 9, false},
		{"the holder", key, 1, false},
		{"a waiter, from another key's line", other, 2, false},
	} {
		if got := leave(t, lk, c.key, c.pull); got != c.want {
			t.Errorf("Leave by %s = %v, want %v", c.what, got, c.want)
		}
	}
	assertLines(t, lk, locking.Line{Key: key, Waiting: []locking.Waiter{waiterOf(l2), waiterOf(l4)}})
	if _, at := wait(t, lk, l4); at != 2 {
		t.Errorf("Wait by the third in line after the second left: place %d, want 2", at)
	}
	if !leave(t, lk, key, 2) || !leave(t, lk, key, 4) {
		t.Fatal("Leave by the last waiters = false")
	}
	assertLines(t, lk)
	// With no one left in line, the key is free for anyone.
	unlock(t, lk, key, 1)
	assertPass(t, lk)
	if holder, ok := tryLock(t, lk, request(key, 5, start, 0)); !ok {
		t.Fatalf("TryLock after the line emptied: acquired = false, holder %s", formatLock(holder))
	}
}

func testLinesSorted(t *testing.T, lk locking.Locker) {
	start := now()
	keys := []locking.Key{
		{Repo: "a/a", Dir: ".", Workspace: "default"},
		{Repo: "a/a", Dir: ".", Workspace: "prod"},
		{Repo: "a/a", Dir: "x", Workspace: "default"},
		{Repo: "b/a", Dir: ".", Workspace: "a"},
		{Forge: "gitlab", Repo: "a/a", Dir: ".", Workspace: "default"},
	}
	want := make([]locking.Line, len(keys))
	for _, i := range []int{3, 0, 4, 2, 1} {
		tryLock(t, lk, request(keys[i], 100+i, start, 0))
		want[i].Key = keys[i]
		// Pulls joining in descending order, so that a sort by pull
		// number would show.
		for j := range i + 1 {
			l := request(keys[i], 10*(i+1)-j, start.Add(time.Duration(j)*time.Millisecond), time.Duration(j)*time.Minute)
			l.User = fmt.Sprintf("user %d of %+q", j, keys[i])
			wait(t, lk, l)
			want[i].Waiting = append(want[i].Waiting, waiterOf(l))
		}
	}
	assertLines(t, lk, want...)
}

func testHandOddCharacters(t *testing.T, lk locking.Locker) {
	start := now()
	keys := []locking.Key{
		{Repo: "owner/repo", Dir: "dir with space", Workspace: "default"},
		{Repo: "owner/repo", Dir: "répertoire/日本語", Workspace: "prod-🚀"},
		{Repo: "owner/repo", Dir: "", Workspace: ""},
		{Forge: "<&>", Repo: "owner/repo", Dir: `quote"back\slash/`, Workspace: "new\nline\x00nul\u2028"},
	}
	users := []string{"alice", "Ünïcode 🚀", "", `"quoted"\/<script>` + "\t\x01"}
	var lines []locking.Line
	for i, k := range keys {
		tryLock(t, lk, request(k, 1, start, 0))
		l := request(k, 2+i, start, time.Hour)
		l.User = users[i]
		wait(t, lk, l)
		lines = append(lines, locking.Line{Key: k, Waiting: []locking.Waiter{waiterOf(l)}})
	}
	slices.SortFunc(lines, func(a, b locking.Line) int { return compareKeys(a.Key, b.Key) })
	assertLines(t, lk, lines...)
	for _, k := range keys {
		unlock(t, lk, k, 1)
	}
	before := time.Now()
	turns := pass(t, lk)
	after := time.Now()
	if len(turns) != len(lines) {
		t.Fatalf("Pass = %s, want %d keys handed", formatLocks(turns), len(lines))
	}
	for i, l := range turns {
		assertHanded(t, "lock handed by Pass", l, lines[i].Key, lines[i].Waiting[0], before, after)
	}
	assertList(t, lk, turns...)
}

func testHandedExpiry(t *testing.T, lk locking.Locker) {
	start := now()
	keys := []locking.Key{
		{Repo: "owner/repo", Dir: ".", Workspace: "a"},
		{Repo: "owner/repo", Dir: ".", Workspace: "b"},
		{Repo: "owner/repo", Dir: ".", Workspace: "c"},
	}
	ttls := []time.Duration{90 * time.Minute, 0, 1500*time.Millisecond + 1}
	var waiters []locking.Waiter
	for i, k := range keys {
		tryLock(t, lk, request(k, 1, start, 0))
		l := request(k, 2, start, ttls[i])
		wait(t, lk, l)
		waiters = append(waiters, waiterOf(l))
		unlock(t, lk, k, 1)
	}
	// One handed by an outsider's TryLock, the others by Pass.
	before := time.Now()
	holder, _ := tryLock(t, lk, request(keys[0], 3, start, 0))
	assertHanded(t, "holder seen by the outsider", holder, keys[0], waiters[0], before, time.Now())
	before = time.Now()
	turns := pass(t, lk)
	after := time.Now()
	if len(turns) != 3 {
		t.Fatalf("Pass = %s, want three keys with Turn set", formatLocks(turns))
	}
	assertLock(t, "lock handed before Pass", turns[0], holder)
	for i := 1; i < 3; i++ {
		assertHanded(t, "lock handed by Pass", turns[i], keys[i], waiters[i], before, after)
	}
	assertList(t, lk, turns...)
}

func testLapsedGoesToFirstInLine(t *testing.T, lk locking.Locker) {
	start := now()
	first := request(key, 1, start, lapse)
	tryLock(t, lk, first)
	l2 := request(key, 2, start, time.Hour)
	wait(t, lk, l2)
	outsider := request(key, 3, start, 0)
	if _, ok := tryLock(t, lk, outsider); ok {
		t.Fatal("TryLock by an outsider on a held key: acquired = true")
	}
	sleepUntil(first.Expires)
	before := time.Now()
	holder, ok := tryLock(t, lk, outsider)
	after := time.Now()
	if ok {
		t.Fatal("TryLock by an outsider on a lapsed key with a line: acquired = true")
	}
	assertHanded(t, "holder seen by the outsider", holder, key, waiterOf(l2), before, after)
	assertList(t, lk, holder)
	assertLines(t, lk)
	assertPass(t, lk, holder)
}

func testPassHandsLapsed(t *testing.T, lk locking.Locker) {
	start := now()
	first := request(key, 1, start, lapse)
	tryLock(t, lk, first)
	l2 := request(key, 2, start, 0)
	wait(t, lk, l2)
	assertPass(t, lk)
	sleepUntil(first.Expires)
	before := time.Now()
	turns := pass(t, lk)
	after := time.Now()
	if len(turns) != 1 {
		t.Fatalf("Pass after the lock lapsed = %s, want the key handed to pull 2", formatLocks(turns))
	}
	assertHanded(t, "lock handed by Pass", turns[0], key, waiterOf(l2), before, after)
	assertList(t, lk, turns[0])
	assertLines(t, lk)
	if unlock(t, lk, key, 1) {
		t.Error("Unlock by the pull whose lock lapsed = true")
	}
}

// testHandedLockLapses lets a handed lock lapse before its pull request
// takes it: the key is free, and whoever takes it next has no Turn.
func testHandedLockLapses(t *testing.T, lk locking.Locker) {
	start := now()
	tryLock(t, lk, request(key, 1, start, 0))
	wait(t, lk, request(key, 2, start, lapse))
	unlock(t, lk, key, 1)
	turns := pass(t, lk)
	if len(turns) != 1 {
		t.Fatalf("Pass after Unlock = %s, want the key handed to pull 2", formatLocks(turns))
	}
	sleepUntil(turns[0].Expires)
	l3 := request(key, 3, now(), 0)
	if holder, ok := tryLock(t, lk, l3); !ok {
		t.Fatalf("TryLock after the handed lock lapsed: acquired = false, holder %s", formatLock(holder))
	}
	assertList(t, lk, l3)
	assertPass(t, lk)
	assertLines(t, lk)
}

// lapse is how long the locks of the subtests that let them lapse last:
// long enough to set the subtest up before, on a busy machine.
const lapse = 500 * time.Millisecond

// now is the current time in whole milliseconds (what Redis keeps of an
// expiry), in UTC.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// sleepUntil sleeps until a little after at.
func sleepUntil(at time.Time) { time.Sleep(time.Until(at) + 50*time.Millisecond) }

// request is the lock pull asks for on k at at, by "user<pull>", lasting
// ttl: for ever when 0.
func request(k locking.Key, pull int, at time.Time, ttl time.Duration) locking.Lock {
	l := locking.Lock{Key: k, Pull: pull, User: fmt.Sprint("user", pull), Time: at}
	if ttl > 0 {
		l.Expires = at.Add(ttl)
	}
	return l
}

// waiterOf is the Waiter l.Pull is when l puts it in line.
func waiterOf(l locking.Lock) locking.Waiter {
	w := locking.Waiter{Pull: l.Pull, User: l.User, Time: l.Time}
	if !l.Expires.IsZero() {
		w.TTL = l.Expires.Sub(l.Time)
	}
	return w
}

func wait(t *testing.T, lk locking.Locker, l locking.Lock) (locking.Lock, int) {
	t.Helper()
	holder, at, err := lk.Wait(t.Context(), l)
	if err != nil {
		t.Fatalf("Wait %s: %v", formatLock(l), err)
	}
	return holder, at
}

func leave(t *testing.T, lk locking.Locker, k locking.Key, pull int) bool {
	t.Helper()
	ok, err := lk.Leave(t.Context(), k, pull)
	if err != nil {
		t.Fatalf("Leave %+q for pull %d: %v", k, pull, err)
	}
	return ok
}

func pass(t *testing.T, lk locking.Locker) []locking.Lock {
	t.Helper()
	turns, err := lk.Pass(t.Context())
	if err != nil {
		t.Fatalf("Pass: %v", err)
	}
	return turns
}

// assertPass checks that Pass returns exactly want, in order.
func assertPass(t *testing.T, lk locking.Locker, want ...locking.Lock) {
	t.Helper()
	if got := pass(t, lk); !slices.EqualFunc(got, want, equalLocks) {
		t.Fatalf("Pass:\n got %s\nwant %s", formatLocks(got), formatLocks(want))
	}
}

// assertHanded checks that got is the lock w was handed on k between
// before and after: with Turn set, from then, expiring w.TTL later (to
// the millisecond Redis keeps), never when w.TTL is zero.
func assertHanded(t *testing.T, what string, got locking.Lock, k locking.Key, w locking.Waiter, before, after time.Time) {
	t.Helper()
	ok := got.Key == k && got.Pull == w.Pull && got.User == w.User && got.Turn &&
		!got.Time.Before(before.Truncate(time.Millisecond)) && !got.Time.After(after)
	if w.TTL == 0 {
		ok = ok && got.Expires.IsZero()
	} else {
		ok = ok && got.Expires.Sub(got.Time.Add(w.TTL)).Abs() <= 2*time.Millisecond
	}
	if !ok {
		t.Errorf("%s = %s, want %+q handed to %s between %s and %s, expiring %v later", what, formatLock(got), k,
			formatWaiter(w), before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano), w.TTL)
	}
}

func getLines(t *testing.T, lk locking.Locker) []locking.Line {
	t.Helper()
	lines, err := lk.Lines(t.Context())
	if err != nil {
		t.Fatalf("Lines: %v", err)
	}
	return lines
}

// assertLines checks that Lines returns exactly want, in order.
func assertLines(t *testing.T, lk locking.Locker, want ...locking.Line) {
	t.Helper()
	if got := getLines(t, lk); !slices.EqualFunc(got, want, equalLines) {
		t.Fatalf("Lines:\n got %s\nwant %s", formatLines(got), formatLines(want))
	}
}

func equalLines(a, b locking.Line) bool {
	return a.Key == b.Key && slices.EqualFunc(a.Waiting, b.Waiting, func(v, w locking.Waiter) bool {
		return v.Pull == w.Pull && v.User == w.User && v.Time.Equal(w.Time) && v.TTL == w.TTL
	})
}

func compareKeys(a, b locking.Key) int {
	return compareLocks(locking.Lock{Key: a}, locking.Lock{Key: b})
}

func formatWaiter(w locking.Waiter) string {
	return fmt.Sprintf("{Pull:%d User:%q Time:%s TTL:%v}", w.Pull, w.User, w.Time.Format(time.RFC3339Nano), w.TTL)
}

func formatLines(lines []locking.Line) string {
	s := make([]string, len(lines))
	for i, line := range lines {
		ws := make([]string, len(line.Waiting))
		for j, w := range line.Waiting {
			ws[j] = formatWaiter(w)
		}
		s[i] = fmt.Sprintf("{%+q [%s]}", line.Key, strings.Join(ws, " "))
	}
	return "[" + strings.Join(s, " ") + "]"
}
