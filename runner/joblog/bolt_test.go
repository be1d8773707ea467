package joblog_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/atoll-iac/atoll/runner/joblog"
	"github.com/atoll-iac/atoll/runner/joblog/joblogtest"
)

func openBolt(t testing.TB, path string, retention time.Duration) *joblog.Bolt {
	t.Helper()
	b, err := joblog.OpenBolt(path, retention)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBolt(t *testing.T) {
	t.Parallel()
	joblogtest.Run(t, func(t *testing.T, retention time.Duration) joblog.Store {
		return openBolt(t, filepath.Join(t.TempDir(), "jobs.db"), retention)
	})
}

// TestBoltReopen restarts the store: the jobs and their output are read
// back from the file.
func TestBoltReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jobs.db")
	b, err := joblog.OpenBolt(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	want := joblog.Record{ID: "job-1", Forge: "github", Repo: "owner/repo", Pull: 7, Command: "apply", User: "alice", Created: created}
	ctx := t.Context()
	if err := b.Create(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := b.Append(ctx, want.ID, []byte("Apply complete!\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Update(ctx, want.ID, func(r *joblog.Record) { r.State, r.Ended = joblog.Succeeded, created.Add(time.Minute) }); err != nil {
		t.Fatal(err)
	}
	if _, err := joblog.OpenBolt(path, 0); err == nil {
		t.Error("a second OpenBolt of a file held open succeeded")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openBolt(t, path, 0)
	want.State, want.Ended, want.Size = joblog.Succeeded, created.Add(time.Minute), 16
	p, got, err := b.Output(ctx, want.ID, 0, 100)
	if err != nil || string(p) != "Apply complete!\n" || !reflect.DeepEqual(got, want) {
		t.Errorf("Output after reopening = %q, %+v, %v; want the output and %+v", p, got, err, want)
	}
	if list, err := b.List(ctx, "", 10); err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], want) {
		t.Errorf("List after reopening = %+v, %v; want %+v", list, err, want)
	}
}

// TestBoltSweep checks that expired jobs leave the file, not only the
// answers: Create deletes them.
func TestBoltSweep(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jobs.db")
	b, err := joblog.OpenBolt(path, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 3 {
		id := fmt.Sprint("old-", i)
		if err := b.Create(ctx, joblog.Record{ID: id}); err != nil {
			t.Fatal(err)
		}
		if err := b.Append(ctx, id, []byte("output")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(600 * time.Millisecond)
	if err := b.Create(ctx, joblog.Record{ID: "new"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// One record and place in the order, the new job's; no output.
	want := map[string]int{"jobs": 1, "order": 1, "output": 0}
	err = db.View(func(tx *bolt.Tx) error {
		for name, n := range want {
			c, got := tx.Bucket([]byte(name)).Cursor(), 0
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				got++
			}
			if got != n {
				t.Errorf("bucket %s holds %d keys after the sweep, want %d", name, got, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
