package lockingtest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking"
)

// The subtests of the lines that race calls on one key.

func testWaitRace(t *testing.T, lk locking.Locker) {
	const n = 30
	start := now()
	first := request(key, 1, start, 0)
	tryLock(t, lk, first)
	var (
		places [n]int
		wg     sync.WaitGroup
	)
	for i := range n {
		wg.Go(func() {
			holder, at, err := lk.Wait(t.Context(), request(key, i+2, start, time.Duration(i)*time.Second))
			if err != nil || !equalLocks(holder, first) {
				t.Errorf("Wait by pull %d = %s, %v; want held by %s", i+2, formatLock(holder), err, formatLock(first))
			}
			places[i] = at
		})
	}
	wg.Wait()
	line := locking.Line{Key: key, Waiting: make([]locking.Waiter, n)}
	for i, at := range places {
		if at < 1 || at > n || line.Waiting[at-1].Pull != 0 {
			t.Fatalf("places given to pulls 2 to %d: %v, want 1 to %d each once", n+1, places, n)
		}
		line.Waiting[at-1] = waiterOf(request(key, i+2, start, time.Duration(i)*time.Second))
	}
	assertLines(t, lk, line)
}

// testPassRace releases one key while Pass, and outsiders' TryLock, race
// for it and for another key released already: each goes to its first
// in line, once.
func testPassRace(t *testing.T, lk locking.Locker) {
	const n = 8
	start := now()
	keys := []locking.Key{
		{Repo: "owner/repo", Dir: ".", Workspace: "during"},
		{Repo: "owner/repo", Dir: ".", Workspace: "early"},
	}
	first := request(keys[0], 1, start, 0)
	for _, k := range keys {
		tryLock(t, lk, request(k, 1, start, 0))
		wait(t, lk, request(k, 2, start, time.Hour))
		wait(t, lk, request(k, 3, start, 0))
	}
	unlock(t, lk, keys[1], 1)
	var (
		mu       sync.Mutex
		passed   []locking.Lock // every lock any Pass returned
		refusals []locking.Lock // every holder an outsider was refused by
		wg       sync.WaitGroup
	)
	ready := make(chan struct{})
	wg.Go(func() {
		<-ready
		if _, err := lk.Unlock(t.Context(), keys[0], 1); err != nil {
			t.Errorf("Unlock: %v", err)
		}
	})
	for i := range n {
		wg.Go(func() {
			<-ready
			turns, err := lk.Pass(t.Context())
			if err != nil {
				t.Errorf("Pass: %v", err)
			}
			mu.Lock()
			passed = append(passed, turns...)
			mu.Unlock()
		})
		for _, k := range keys {
			wg.Go(func() {
				<-ready
				holder, ok, err := lk.TryLock(t.Context(), request(k, 100+i, start, 0))
				if err != nil || ok {
					t.Errorf("TryLock by outsider %d on %+q = %s, %v, %v; want refused", 100+i, k, formatLock(holder), ok, err)
				}
				mu.Lock()
				refusals = append(refusals, holder)
				mu.Unlock()
			})
		}
	}
	close(ready)
	wg.Wait()

	turns := pass(t, lk) // in case every Pass ran before the Unlock
	if len(turns) != 2 || turns[0].Pull != 2 || turns[1].Pull != 2 {
		t.Fatalf("Pass after the race = %s, want both keys handed to pull 2", formatLocks(turns))
	}
	for _, l := range passed {
		if i := slices.IndexFunc(turns, func(h locking.Lock) bool { return h.Key == l.Key }); i < 0 || !equalLocks(l, turns[i]) {
			t.Errorf("a Pass in the race returned %s; the key was handed as %s", formatLock(l), formatLocks(turns))
		}
	}
	for _, l := range refusals {
		if !equalLocks(l, first) && !slices.ContainsFunc(turns, func(h locking.Lock) bool { return equalLocks(l, h) }) {
			t.Errorf("an outsider was refused by %s; the keys were handed as %s", formatLock(l), formatLocks(turns))
		}
	}
	assertList(t, lk, turns...)
	w3 := []locking.Waiter{waiterOf(request(key, 3, start, 0))}
	assertLines(t, lk, locking.Line{Key: keys[0], Waiting: w3}, locking.Line{Key: keys[1], Waiting: w3})
}

// testPassLapseJoinRace has pull requests join a line while its key's
// lock lapses and Pass runs over and over: the key goes to the first in
// line once, and every joiner ends up in line once.
func testPassLapseJoinRace(t *testing.T, lk locking.Locker) {
	const joiners = 10
	start := now()
	first := request(key, 1, start, lapse)
	tryLock(t, lk, first)
	l2 := request(key, 2, start, time.Hour)
	wait(t, lk, l2)
	var (
		mu      sync.Mutex
		seen    []locking.Lock // every lock a Pass returned or a joiner saw
		wg      sync.WaitGroup
		stopped = make(chan struct{})
	)
	note := func(ls ...locking.Lock) {
		mu.Lock()
		seen = append(seen, ls...)
		mu.Unlock()
	}
	wg.Go(func() {
		for {
			select {
			case <-stopped:
				return
			default:
			}
			turns, err := lk.Pass(t.Context())
			if err != nil {
				t.Errorf("Pass: %v", err)
				return
			}
			note(turns...)
		}
	})
	var joined sync.WaitGroup
	for i := range joiners {
		joined.Go(func() {
			// Spread over 50 ms either side of the lapse.
			time.Sleep(time.Until(first.Expires) + time.Duration(i-joiners/2)*10*time.Millisecond)
			holder, at, err := lk.Wait(t.Context(), request(key, 10+i, start, 0))
			if err != nil || at < 1 {
				t.Errorf("Wait by pull %d = %s, place %d, %v; want a place in line", 10+i, formatLock(holder), at, err)
			}
			note(holder)
		})
	}
	joined.Wait()
	close(stopped)
	wg.Wait()

	turns := pass(t, lk)
	if len(turns) != 1 || turns[0].Pull != 2 {
		t.Fatalf("Pass after the race = %s, want the key handed to pull 2", formatLocks(turns))
	}
	for _, l := range seen {
		if !equalLocks(l, first) && !equalLocks(l, turns[0]) {
			t.Errorf("the race saw the key held as %s; it was held as %s then handed as %s", formatLock(l), formatLock(first), formatLock(turns[0]))
		}
	}
	assertList(t, lk, turns[0])
	lines := getLines(t, lk)
	var pulls []int
	for _, line := range lines {
		for _, w := range line.Waiting {
			pulls = append(pulls, w.Pull)
		}
	}
	slices.Sort(pulls)
	want := make([]int, joiners)
	for i := range want {
		want[i] = 10 + i
	}
	if len(lines) != 1 || lines[0].Key != key || !slices.Equal(pulls, want) {
		t.Fatalf("Lines after the race:\n got %s\nwant the joiners %v, each once", formatLines(lines), want)
	}
}
