package joblog_test

import (
	"slices"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/runner/joblog"
	"github.com/atoll-iac/atoll/runner/joblog/joblogtest"
)

func TestRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	client := srv.Client(t)
	joblogtest.Run(t, func(t *testing.T, retention time.Duration) joblog.Store {
		// One server; each subtest its own prefix, so an empty store.
		return joblog.NewRedis(client, t.Name()+":", retention)
	})
}

// TestRedisPrune checks that expired jobs leave the order, not only the
// answers: Create removes them.
func TestRedisPrune(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	client := srv.Client(t)
	ctx := t.Context()
	s := joblog.NewRedis(client, "atoll:", 500*time.Millisecond)
	for _, id := range []string{"old-1", "old-2", "old-3"} {
		if err := s.Create(ctx, joblog.Record{ID: id}); err != nil {
			t.Fatal(err)
		}
		if err := s.Append(ctx, id, []byte("output")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(600 * time.Millisecond)
	if err := s.Create(ctx, joblog.Record{ID: "new"}); err != nil {
		t.Fatal(err)
	}
	keys, err := client.Keys(ctx, "atoll:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if want := []string{"atoll:job:new", "atoll:jobs"}; !slices.Equal(keys, want) {
		t.Errorf("keys after the prune = %q, want %q", keys, want)
	}
	if ids, err := client.ZRange(ctx, "atoll:jobs", 0, -1).Result(); err != nil || !slices.Equal(ids, []string{"new"}) {
		t.Errorf("members of the order after the prune = %q, %v; want [new]", ids, err)
	}
}
