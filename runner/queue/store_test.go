package queue

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking/redistest"
)

// taskStores runs fn on each Store backend, each subtest with an
// empty store of its own.
func taskStores(t *testing.T, fn func(t *testing.T, ts Store)) {
	srv := redistest.Start(t, redistest.Options{})
	client := srv.Client(t)
	backends := map[string]func(t *testing.T) Store{
		"bolt": func(t *testing.T) Store {
			b, err := OpenBolt(filepath.Join(t.TempDir(), "tasks.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		},
		"redis": func(t *testing.T) Store {
			r, err := NewRedis(t.Context(), client, t.Name()+":")
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, open(t))
		})
	}
}

func enqueue(t *testing.T, ts Store, bodies ...string) []Task {
	t.Helper()
	var tasks []Task
	for _, b := range bodies {
		group, _, _ := strings.Cut(b, "/")
		task, err := ts.Enqueue(t.Context(), group, []byte(b))
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	return tasks
}

func claim(t *testing.T, ts Store, consumer string, ttl, wait time.Duration) (Task, bool) {
	t.Helper()
	task, ok, err := ts.Claim(t.Context(), consumer, ttl, wait)
	if err != nil {
		t.Fatalf("Claim by %s: %v", consumer, err)
	}
	return task, ok
}

func TestTasksInOrder(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		enqueue(t, ts, "a", "b", "c")
		if n, err := ts.Pending(t.Context()); err != nil || n != 3 {
			t.Errorf("Pending = %d, %v; want 3", n, err)
		}
		var got []string
		for range 3 {
			task, ok := claim(t, ts, "w1", time.Minute, 0)
			if !ok || task.Claims != 1 || task.Enqueued.IsZero() {
				t.Fatalf("Claim = %+v, %v", task, ok)
			}
			got = append(got, string(task.Body))
			if err := ts.Done(t.Context(), task.ID, "w1"); err != nil {
				t.Fatalf("Done: %v", err)
			}
		}
		if !slices.Equal(got, []string{"a", "b", "c"}) { // each its own group
			t.Errorf("claimed %v, want a b c", got)
		}
		if _, ok := claim(t, ts, "w1", time.Minute, 50*time.Millisecond); ok {
			t.Error("claimed a task from an empty queue")
		}
		if n, err := ts.Pending(t.Context()); err != nil || n != 0 {
			t.Errorf("Pending = %d, %v; want 0", n, err)
		}
	})
}

// Oldest follows the queue's head: the first task recorded and not done,
// claimed or not.
func TestOldestTask(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		if _, ok, err := ts.Oldest(t.Context()); err != nil || ok {
			t.Fatalf("Oldest of an empty queue = %v, %v; want none", ok, err)
		}
		tasks := enqueue(t, ts, "a")
		time.Sleep(10 * time.Millisecond)
		tasks = append(tasks, enqueue(t, ts, "b")...)
		for _, want := range tasks {
			got, ok, err := ts.Oldest(t.Context())
			if err != nil || !ok || !got.Equal(want.Enqueued) {
				t.Fatalf("Oldest = %v, %v, %v; want %v (task %s)", got, ok, err, want.Enqueued, want.Body)
			}
			task, ok := claim(t, ts, "w1", time.Minute, 0)
			if !ok {
				t.Fatal("no task to claim")
			}
			if got, _, _ := ts.Oldest(t.Context()); !got.Equal(want.Enqueued) {
				t.Errorf("Oldest moved when task %s was claimed, not done", task.Body)
			}
			if err := ts.Done(t.Context(), task.ID, "w1"); err != nil {
				t.Fatal(err)
			}
		}
		if _, ok, err := ts.Oldest(t.Context()); err != nil || ok {
			t.Errorf("Oldest once all are done = %v, %v; want none", ok, err)
		}
	})
}

func TestTasksTakeTurns(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		enqueue(t, ts, "pr1/plan", "pr1/apply", "pr2/plan")
		ready := func(task Task) bool {
			t.Helper()
			ok, err := ts.Ready(t.Context(), task)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		plan1, _ := claim(t, ts, "w1", time.Minute, 0)
		if string(plan1.Body) != "pr1/plan" || !ready(plan1) {
			t.Fatalf("first claim: %+v", plan1)
		}
		// A store may hand out a task whose turn has not come (Redis does):
		// it goes back to the end of the queue, after pr2's task.
		next, _ := claim(t, ts, "w2", time.Minute, 0)
		requeued := string(next.Body) == "pr1/apply"
		if requeued {
			if ready(next) {
				t.Fatal("pr1's apply is ready while its plan runs")
			}
			if err := ts.Note(t.Context(), next.ID, "w2", "waited"); err != nil {
				t.Fatal(err)
			}
			if err := ts.Requeue(t.Context(), next, "w2"); err != nil {
				t.Fatal(err)
			}
			next, _ = claim(t, ts, "w2", time.Minute, 0)
		}
		if string(next.Body) != "pr2/plan" || !ready(next) {
			t.Fatalf("another group's task: %+v", next)
		}
		if err := ts.Done(t.Context(), plan1.ID, "w1"); err != nil {
			t.Fatal(err)
		}
		again, ok := claim(t, ts, "w1", time.Minute, 0)
		if !ok || string(again.Body) != "pr1/apply" || again.Claims != 1 || !ready(again) || requeued && again.Note != "waited" {
			t.Fatalf("pr1's apply once its plan is done: %+v, %v", again, ok)
		}
		for _, task := range []Task{again, next} {
			if err := ts.Done(t.Context(), task.ID, map[string]string{"pr1": "w1", "pr2": "w2"}[task.Group]); err != nil {
				t.Fatal(err)
			}
		}
		// A group whose tasks are all done starts afresh.
		later := enqueue(t, ts, "pr1/plan again")[0]
		if !ready(later) {
			t.Errorf("a new task of an idle group is not ready: %+v", later)
		}
		if n, err := ts.Pending(t.Context()); err != nil || n != 1 {
			t.Errorf("Pending = %d, %v; want 1", n, err)
		}
	})
}

func TestTasksClaimWaits(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		go func() {
			time.Sleep(100 * time.Millisecond)
			enqueue(t, ts, "late")
		}()
		task, ok := claim(t, ts, "w1", time.Minute, 10*time.Second)
		if !ok || string(task.Body) != "late" {
			t.Errorf("Claim waiting for a task = %+v, %v", task, ok)
		}
	})
}

func TestTasksLapsedClaimGoesToAnother(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		want := enqueue(t, ts, "job")[0]
		// Long enough that the checks below run while the claim holds, even
		// when a busy machine makes each write slow.
		const ttl = time.Second
		if task, ok := claim(t, ts, "dead", ttl, 0); !ok || task.ID != want.ID {
			t.Fatalf("Claim = %+v, %v", task, ok)
		}
		if err := ts.Note(t.Context(), want.ID, "dead", "posted comment 42"); err != nil {
			t.Fatalf("Note: %v", err)
		}
		if err := ts.Note(t.Context(), want.ID, "alive", "not mine"); !errors.Is(err, ErrNotHeld) {
			t.Fatalf("Note by a consumer not holding the task = %v, want ErrNotHeld", err)
		}
		// While the claim holds, no one else gets the task.
		if task, ok := claim(t, ts, "alive", ttl, 0); ok {
			t.Fatalf("a held task was claimed again: %+v", task)
		}
		var task Task
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			var ok bool
			if task, ok = claim(t, ts, "alive", ttl, 100*time.Millisecond); ok {
				break
			}
		}
		if task.ID != want.ID || task.Claims != 2 || string(task.Body) != "job" || task.Note != "posted comment 42" {
			t.Fatalf("the lapsed task reclaimed as %+v, want %s claimed twice", task, want.ID)
		}
		if ok, err := ts.Extend(t.Context(), task.ID, "dead", time.Minute); err != nil || ok {
			t.Errorf("Extend by the old holder = %v, %v; want false", ok, err)
		}
		if err := ts.Done(t.Context(), task.ID, "dead"); !errors.Is(err, ErrNotHeld) {
			t.Errorf("Done by the old holder = %v, want ErrNotHeld", err)
		}
		if err := ts.Done(t.Context(), task.ID, "alive"); err != nil {
			t.Errorf("Done by the new holder: %v", err)
		}
	})
}

func TestTasksReleaseHandsBackAtOnce(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		want := enqueue(t, ts, "job")[0]
		task, ok := claim(t, ts, "stopping", time.Hour, 0)
		if !ok {
			t.Fatal("no task")
		}
		if err := ts.Note(t.Context(), task.ID, "stopping", "posted comment 7"); err != nil {
			t.Fatal(err)
		}
		if err := ts.Release(t.Context(), task, "other"); !errors.Is(err, ErrNotHeld) {
			t.Errorf("Release by a consumer not holding the task = %v, want ErrNotHeld", err)
		}
		if err := ts.Release(t.Context(), task, "stopping"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		// Long before its hour is up, another takes it, as a rerun.
		got, ok := claim(t, ts, "other", time.Hour, 0)
		if !ok || got.ID != want.ID || got.Claims != 2 || got.Note != "posted comment 7" {
			t.Fatalf("Claim after Release = %+v, %v; want %s claimed twice, with its note", got, ok, want.ID)
		}
		if ok, err := ts.Extend(t.Context(), task.ID, "stopping", time.Hour); err != nil || ok {
			t.Errorf("Extend by the releaser = %v, %v; want false", ok, err)
		}
		if err := ts.Done(t.Context(), task.ID, "other"); err != nil {
			t.Errorf("Done by the new holder: %v", err)
		}
	})
}

// TestTasksCountAbandonedRuns follows a task through runs that stop in
// each way: a run that releases the task, on time or after another took
// it, stopped on purpose; one whose claim merely lapses was abandoned.
func TestTasksCountAbandonedRuns(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		enqueue(t, ts, "job")
		const short = 300 * time.Millisecond
		// take claims the task for consumer, once a claim on it lapses,
		// and checks how its runs so far ended.
		take := func(consumer string, ttl time.Duration, claims, abandoned int) Task {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
				task, ok := claim(t, ts, consumer, ttl, 100*time.Millisecond)
				if !ok {
					continue
				}
				if task.Claims != claims || task.Abandoned() != abandoned {
					t.Fatalf("%s claimed %+v: %d claims, %d abandoned; want %d, %d", consumer, task, task.Claims, task.Abandoned(), claims, abandoned)
				}
				return task
			}
			t.Fatalf("%s never claimed the task", consumer)
			return Task{}
		}
		a := take("a", time.Hour, 1, 0)
		if err := ts.Release(t.Context(), a, "a"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		take("b", short, 2, 0) // b dies: its claim lapses
		c := take("c", short, 3, 1)
		d := take("d", short, 4, 2) // c's claim lapsed, d took the task...
		// ...and c, its run stopped for that, says so late.
		if err := ts.Release(t.Context(), c, "c"); !errors.Is(err, ErrNotHeld) {
			t.Errorf("Release of a task another took = %v, want ErrNotHeld", err)
		}
		if err := ts.Requeue(t.Context(), d, "d"); err != nil {
			t.Fatalf("Requeue: %v", err)
		}
		// Handed back unrun, d's claim is not counted.
		e := take("e", time.Hour, 4, 1)
		if err := ts.Done(t.Context(), e.ID, "e"); err != nil {
			t.Fatalf("Done: %v", err)
		}
		if err := ts.Release(t.Context(), e, "e"); !errors.Is(err, ErrNotHeld) {
			t.Errorf("Release of a task done = %v, want ErrNotHeld", err)
		}
	})
}

func TestTasksExtendKeepsTheClaim(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		enqueue(t, ts, "long job")
		// Four extensions a third of the TTL apart outlast the first claim;
		// the rest of each third is slack for a slow fsync on a busy machine.
		const ttl = time.Second
		task, ok := claim(t, ts, "w1", ttl, 0)
		if !ok {
			t.Fatal("no task")
		}
		for range 4 {
			time.Sleep(ttl / 3)
			if ok, err := ts.Extend(t.Context(), task.ID, "w1", ttl); err != nil || !ok {
				t.Fatalf("Extend = %v, %v", ok, err)
			}
			if other, ok := claim(t, ts, "w2", ttl, 0); ok {
				t.Fatalf("an extended claim was taken: %+v", other)
			}
		}
		if err := ts.Done(t.Context(), task.ID, "w1"); err != nil {
			t.Errorf("Done: %v", err)
		}
	})
}

func TestTasksRace(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		const tasks, consumers = 20, 10
		for i := range tasks {
			enqueue(t, ts, fmt.Sprint("g", i%3, "/", i))
		}
		var (
			mu   sync.Mutex
			seen = map[string]string{}
			wg   sync.WaitGroup
		)
		for c := range consumers {
			wg.Go(func() {
				name := fmt.Sprint("w", c)
				for {
					task, ok, err := ts.Claim(t.Context(), name, time.Minute, 50*time.Millisecond)
					if err != nil {
						t.Error(err)
						return
					}
					if !ok {
						if n, _ := ts.Pending(t.Context()); n == 0 {
							return
						}
						continue
					}
					mu.Lock()
					_, again := seen[task.ID]
					mu.Unlock()
					if !again && !readyNow(t, ts, task) {
						// Not its turn (Redis hands such tasks out): back.
						if err := ts.Requeue(t.Context(), task, name); err != nil {
							t.Error(err)
						}
						continue
					}
					mu.Lock()
					if prev, dup := seen[task.ID]; dup {
						t.Errorf("task %s claimed by %s and %s", task.ID, prev, name)
					}
					seen[task.ID] = name
					mu.Unlock()
					if err := ts.Done(t.Context(), task.ID, name); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if len(seen) != tasks {
			t.Errorf("%d tasks claimed, want %d", len(seen), tasks)
		}
		// Whatever order they were done in, no group is left waiting.
		for g := range 3 {
			if task := enqueue(t, ts, fmt.Sprint("g", g, "/after"))[0]; !readyNow(t, ts, task) {
				t.Errorf("group g%d is stuck: %+v", g, task)
			}
		}
	})
}

func readyNow(t *testing.T, ts Store, task Task) bool {
	t.Helper()
	ok, err := ts.Ready(t.Context(), task)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestBoltTasksSurviveARestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "tasks.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, b, "started", "waiting")
	if _, ok := claim(t, b, "before", time.Hour, 0); !ok {
		t.Fatal("no task")
	}
	b.Close()

	// The process that held a claim is gone: its task comes back at once,
	// marked as claimed before.
	b, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, want := range []struct {
		body   string
		claims int
	}{{"started", 2}, {"waiting", 1}} {
		task, ok := claim(t, b, "after", time.Hour, 0)
		if !ok || string(task.Body) != want.body || task.Claims != want.claims {
			t.Errorf("after restart: Claim = %+v, %v; want %q claimed %d times", task, ok, want.body, want.claims)
		}
	}
}

func TestRedisTasksSurviveARedisRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{AppendOnly: true})
	ts, err := NewRedis(t.Context(), srv.Client(t), "")
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, ts, "queued before")
	srv.Restart()
	ts, err = NewRedis(t.Context(), srv.Client(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if task, ok := claim(t, ts, "w1", time.Minute, 0); !ok || string(task.Body) != "queued before" {
		t.Errorf("after Redis restarted: Claim = %+v, %v", task, ok)
	}
}

func TestTurnsDoneOutOfTurn(t *testing.T) {
	t.Parallel()
	tr := turns{Last: 4}
	for _, turn := range []int64{3, 2, 3} {
		tr.done(turn)
	}
	if tr.Served != 0 || !slices.Equal(tr.Ahead, []int64{3, 2}) {
		t.Fatalf("after 3, 2, 3 done: %+v", tr)
	}
	tr.done(1)
	if tr.Served != 3 || len(tr.Ahead) != 0 {
		t.Fatalf("after 1 done too: %+v, want served 3", tr)
	}
}

func TestRedisTasksDoneOutOfTurn(t *testing.T) {
	t.Parallel()
	ts, err := NewRedis(t.Context(), redistest.Start(t, redistest.Options{}).Client(t), "")
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, ts, "g/1", "g/2", "g/3")
	var tasks []Task
	for range 3 {
		task, ok := claim(t, ts, "w", time.Minute, 0)
		if !ok {
			t.Fatal("no task")
		}
		tasks = append(tasks, task)
	}
	// The second is dropped before its turn (it would not decode, say):
	// the group must not wait on it for ever.
	for _, i := range []int{1, 0} {
		if err := ts.Done(t.Context(), tasks[i].ID, "w"); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := ts.Ready(t.Context(), tasks[2]); err != nil || !ok {
		t.Errorf("the third task after the first two are done: ready %v, %v", ok, err)
	}
}

func TestRedisTasksRecoverALostGroup(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{}) // no append-only file
	ts, err := NewRedis(t.Context(), srv.Client(t), "")
	if err != nil {
		t.Fatal(err)
	}
	srv.Restart() // and everything in it is gone, consumer group included
	enqueue(t, ts, "after")
	if task, ok, err := ts.Claim(t.Context(), "w", time.Minute, 0); err != nil || !ok || string(task.Body) != "after" {
		t.Errorf("Claim after Redis lost its data = %+v, %v, %v", task, ok, err)
	}
}

func TestTasksLapsedBehindManyLiveClaims(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		const live, ttl = 15, time.Second
		for i := range live {
			enqueue(t, ts, fmt.Sprintf("live%d/x", i))
		}
		dead := enqueue(t, ts, "dead/x")[0]
		var held []Task
		for range live {
			task, ok := claim(t, ts, "alive", ttl, 0)
			if !ok {
				t.Fatal("no task")
			}
			held = append(held, task)
		}
		if task, ok := claim(t, ts, "dead", ttl, 0); !ok || task.ID != dead.ID {
			t.Fatalf("Claim = %+v, %v", task, ok)
		}
		// The live claims are kept; the dead one lapses behind them.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				for _, task := range held {
					ts.Extend(t.Context(), task.ID, "alive", ttl)
				}
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		})
		defer func() { close(stop); wg.Wait() }()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			task, ok := claim(t, ts, "other", ttl, 100*time.Millisecond)
			if !ok {
				continue
			}
			if task.ID != dead.ID {
				t.Fatalf("a live claim was taken: %+v", task)
			}
			return
		}
		t.Fatal("the lapsed task behind the live ones was never taken over")
	})
}

// markTTL is a mark's life in tests that see it lapse: long enough to
// outlast what a loaded machine does before it checks the mark held.
const markTTL = 2 * time.Second

func TestTasksEnqueueOnce(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		// A delivery sent to several replicas at once: one records it.
		delivery := Mark{Key: "delivery-1", Value: "seen", TTL: markTTL}
		var (
			mu  sync.Mutex
			new int
			wg  sync.WaitGroup
		)
		for range 20 {
			wg.Go(func() {
				_, isNew, err := ts.EnqueueOnce(t.Context(), delivery, "pr1", []byte("plan"))
				if err != nil {
					t.Error(err)
				}
				if isNew {
					mu.Lock()
					new++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if new != 1 {
			t.Fatalf("%d of 20 enqueues of one delivery recorded it, want 1", new)
		}
		if _, isNew, err := ts.EnqueueOnce(t.Context(), Mark{Key: "delivery-2", Value: "seen", TTL: time.Minute}, "pr1", []byte("apply")); err != nil || !isNew {
			t.Errorf("another delivery: new %v, %v", isNew, err)
		}
		if n, err := ts.Pending(t.Context()); err != nil || n != 2 {
			t.Errorf("Pending = %d, %v; want 2", n, err)
		}
		// Past its TTL, the mark is gone.
		time.Sleep(markTTL + 200*time.Millisecond)
		if _, isNew, err := ts.EnqueueOnce(t.Context(), delivery, "pr1", []byte("plan")); err != nil || !isNew {
			t.Errorf("the delivery after its mark lapsed: new %v, %v", isNew, err)
		}
	})
}

// markStep is an enqueue under one pull request's mark, and whether it
// should queue a task.
type markStep struct {
	state string
	order int64
	isNew bool
}

// enqueueSteps enqueues steps in order, checking each.
func enqueueSteps(t *testing.T, ts Store, steps []markStep) {
	t.Helper()
	for i, s := range steps {
		_, isNew, err := ts.EnqueueOnce(t.Context(), Mark{Key: "pull/7", Value: s.state, TTL: time.Minute, Order: s.order}, "pr7", []byte(s.state))
		if err != nil || isNew != s.isNew {
			t.Errorf("step %d (%s at %d): new %v, %v; want new %v", i, s.state, s.order, isNew, err, s.isNew)
		}
	}
}

// A mark holding a state lets a task through each time the state
// changes, and only then: open at one head, pushed to, closed, reopened
// at the same head.
func TestTasksEnqueueOnceAStateChange(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		enqueueSteps(t, ts, []markStep{
			{"open aaa", 0, true}, {"open aaa", 0, false}, {"open bbb", 0, true},
			{"closed", 0, true}, {"closed", 0, false}, {"open bbb", 0, true},
		})
		if v, err := ts.Marked(t.Context(), "pull/7"); err != nil || v != "open bbb" {
			t.Errorf("Marked = %q, %v; want the last state", v, err)
		}
	})
}

// A mark with an order refuses older news: an event that reports an
// earlier state of a pull request than the one held.
func TestTasksEnqueueOnceRefusesOlderNews(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		enqueueSteps(t, ts, []markStep{
			{"open bbb", 20, true},
			{"open aaa", 10, false}, // delivered late
			{"open bbb", 30, false}, // the same state, seen again later
			{"closed", 40, true},
			{"open aaa", 0, true}, // no order: only the state counts
		})
	})
}

func TestTasksMarks(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		if v, err := ts.Marked(t.Context(), "cursor"); err != nil || v != "" {
			t.Fatalf("Marked before any mark = %q, %v; want empty", v, err)
		}
		for _, v := range []string{"one", "two"} {
			if err := ts.SetMark(t.Context(), Mark{Key: "cursor", Value: v, TTL: markTTL}); err != nil {
				t.Fatal(err)
			}
			if got, err := ts.Marked(t.Context(), "cursor"); err != nil || got != v {
				t.Fatalf("Marked = %q, %v; want %q", got, err, v)
			}
		}
		// A mark set outside EnqueueOnce counts there too.
		if _, isNew, err := ts.EnqueueOnce(t.Context(), Mark{Key: "cursor", Value: "two", TTL: markTTL}, "g", nil); err != nil || isNew {
			t.Errorf("EnqueueOnce over an equal mark: new %v, %v; want false", isNew, err)
		}
		time.Sleep(markTTL + 200*time.Millisecond)
		if v, err := ts.Marked(t.Context(), "cursor"); err != nil || v != "" {
			t.Errorf("Marked after the TTL = %q, %v; want empty", v, err)
		}
	})
}

func TestRedisTasksPruneIdleConsumers(t *testing.T) {
	t.Parallel()
	client := redistest.Start(t, redistest.Options{}).Client(t)
	ts, err := NewRedis(t.Context(), client, "")
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, ts, "a/1", "b/1")
	done, _ := claim(t, ts, "gone", time.Minute, 0)
	if err := ts.Done(t.Context(), done.ID, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, ok := claim(t, ts, "holding", time.Minute, 0); !ok {
		t.Fatal("no task")
	}
	if err := ts.pruneConsumers(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	consumers, err := client.XInfoConsumers(t.Context(), ts.stream, ts.group).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(consumers) != 1 || consumers[0].Name != "holding" {
		t.Errorf("consumers after pruning: %+v; want only the one holding a task", consumers)
	}
}
