package runner

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner/joblog"
)

// A job's output reaches its log whole, each line behind its project's
// directory (none for the root), once gathered or closed.
func TestJobOutput(t *testing.T) {
	t.Parallel()
	store, err := joblog.OpenBolt(filepath.Join(t.TempDir(), "jobs.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Create(t.Context(), joblog.Record{ID: "j1", Repo: "acme/infra", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	o := newJobOutput(store, "j1", slog.Default())
	prefixed{w: o, prefix: outputPrefix("stacks/app")}.Write([]byte("one\ntwo\nthree"))
	prefixed{w: o, prefix: outputPrefix(".")}.Write([]byte("root\n"))
	if out, _, _ := store.Output(t.Context(), "j1", 0, 1<<20); len(out) != 0 {
		t.Errorf("output kept before it was gathered: %q", out)
	}
	o.Close()
	want := "stacks/app │ one\nstacks/app │ two\nstacks/app │ three\nroot\n"
	if out, _, err := store.Output(t.Context(), "j1", 0, 1<<20); err != nil || string(out) != want {
		t.Errorf("kept %q, %v; want %q", out, err, want)
	}
	// Gathered output goes out by itself after a while.
	o.Write([]byte("later\n"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _, _ := store.Output(t.Context(), "j1", 0, 1<<20)
		if string(out) == want+"later\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s the log holds %q", 5*time.Second, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
