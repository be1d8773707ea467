package queue

import (
	"errors"
	"testing"
	"time"
)

// TestTasksReleaseCountedOncePerRun: a Release tried again, its reply
// lost, or sent again after another consumer took the task, counts the
// run it releases once.
func TestTasksReleaseCountedOncePerRun(t *testing.T) {
	t.Parallel()
	taskStores(t, func(t *testing.T, ts Store) {
		enqueue(t, ts, "job")
		a, _ := claim(t, ts, "a", time.Hour, time.Second)
		for range 2 {
			if err := ts.Release(t.Context(), a, "a"); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}
		b, _ := claim(t, ts, "b", time.Hour, time.Second)
		if b.Claims != 2 || b.Releases != 1 || b.Abandoned() != 0 {
			t.Fatalf("claimed after a release sent twice: %d claims, %d releases; want 2, 1", b.Claims, b.Releases)
		}
		// b's run stops; its release reaches the store twice, the
		// second time after c took the task.
		if err := ts.Release(t.Context(), b, "b"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		c, _ := claim(t, ts, "c", time.Hour, time.Second)
		if err := ts.Release(t.Context(), b, "b"); !errors.Is(err, ErrNotHeld) {
			t.Errorf("Release of a task another took = %v, want ErrNotHeld", err)
		}
		if err := ts.Release(t.Context(), c, "c"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		d, _ := claim(t, ts, "d", time.Hour, time.Second)
		if d.Claims != 4 || d.Releases != 3 || d.Abandoned() != 0 {
			t.Fatalf("claimed after three runs released: %d claims, %d releases; want 4, 3", d.Claims, d.Releases)
		}
	})
}
