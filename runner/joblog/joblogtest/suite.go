// Package joblogtest is the shared test suite every joblog.Store backend
// must pass. A backend's test calls Run with a constructor for fresh,
// empty stores.
package joblogtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/runner/joblog"
)

// Run runs the suite against stores made by open, which is called once
// per subtest and must return an empty store whose jobs are forgotten
// retention after their last change, cleaned up with t.Cleanup. Subtests
// run in parallel; the slowest waits about two seconds for jobs to
// expire.
func Run(t *testing.T, open func(t *testing.T, retention time.Duration) joblog.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s joblog.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateDefaults", testCreateDefaults},
		{"CreateAgainKeepsTheJob", testCreateAgainKeepsTheJob},
		{"UpdateKeepsCreatedFields", testUpdateKeepsCreatedFields},
		{"NotFound", testNotFound},
		{"AppendOutput", testAppendOutput},
		{"FollowRunningJob", testFollowRunningJob},
		{"CapAtBoundary", testCapAtBoundary},
		{"CapOneBigAppend", testCapOneBigAppend},
		{"ConcurrentAppends", testConcurrentAppends},
		{"ConcurrentAppendsPastCap", testConcurrentAppendsPastCap},
		{"ListNewestFirst", testListNewestFirst},
		{"BinarySafe", testBinarySafe},
		{"OddIDs", testOddIDs},
		{"CancelledContext", testCancelledContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t, time.Hour))
		})
	}
	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		testExpiry(t, open(t, expiryRetention))
	})
}

// keptData is how much of a job's own output is kept when it is cut: the
// rest of MaxOutput is the Truncated note.
const keptData = joblog.MaxOutput - len(joblog.Truncated)

// Fixtures shared by the subtests, read-only.
var (
	t0  = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	job = joblog.Record{ID: "job-1", Forge: "github", Repo: "owner/repo", Pull: 7, Command: "plan", User: "alice", State: joblog.Queued, Created: t0}
)

func testCreateGet(t *testing.T, s joblog.Store) {
	create(t, s, job)
	assertRecord(t, "Get after Create", get(t, s, job.ID), job)
}

func testCreateDefaults(t *testing.T, s joblog.Store) {
	r := joblog.Record{ID: "job-1", Repo: "owner/repo", Command: "apply", Size: 99}
	before := time.Now()
	create(t, s, r)
	after := time.Now()
	got := get(t, s, r.ID)
	if got.Created.Before(before) || got.Created.After(after) {
		t.Errorf("Created of a job created with none = %v, want the time of Create (%v to %v)", got.Created, before, after)
	}
	want := r
	want.State, want.Created, want.Size = joblog.Queued, got.Created, 0
	assertRecord(t, "Get after Create with zero State, Created and a Size", got, want)

	running := joblog.Record{ID: "job-2", Repo: "owner/repo", Ref: "release/1.2", State: joblog.Running, Created: t0, Started: t0}
	create(t, s, running)
	assertRecord(t, "Get after Create in State running", get(t, s, running.ID), running)
}

func testCreateAgainKeepsTheJob(t *testing.T, s joblog.Store) {
	create(t, s, job)
	appendOutput(t, s, job.ID, "old output\n")
	again := job
	again.Command, again.Created = "apply", t0.Add(time.Minute)
	create(t, s, again)
	held := job
	held.Size = int64(len("old output\n"))
	assertRecord(t, "Get after a second Create of the same id", get(t, s, job.ID), held)
	assertOutput(t, s, job.ID, "old output\n")
	assertList(t, s, "", 10, held)
}

func testUpdateKeepsCreatedFields(t *testing.T, s joblog.Store) {
	create(t, s, job)
	appendOutput(t, s, job.ID, "12345")
	started, ended := t0.Add(time.Minute), t0.Add(2*time.Minute)
	var seen joblog.Record
	got, err := s.Update(t.Context(), job.ID, func(r *joblog.Record) {
		seen = *r
		r.State, r.Started, r.Ended = joblog.Succeeded, started, ended
		r.Projects = []string{"stacks/app", "stacks/db/staging"}
		// Not Update's to change: kept as created.
		r.ID, r.Forge, r.Repo, r.Pull, r.Command, r.User = "other", "gitlab", "x/y", 9, "apply", "mallory"
		r.Created, r.Size = t0.Add(time.Hour), 1
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	held := job
	held.Size = 5
	assertRecord(t, "the record change was given", seen, held)
	want := held
	want.State, want.Started, want.Ended = joblog.Succeeded, started, ended
	want.Projects = []string{"stacks/app", "stacks/db/staging"}
	if got.Took() != time.Minute {
		t.Errorf("Took = %v, want a minute", got.Took())
	}
	assertRecord(t, "Update's result", got, want)
	assertRecord(t, "Get after Update", get(t, s, job.ID), want)
	assertList(t, s, "", 10, want)
}

func testNotFound(t *testing.T, s joblog.Store) {
	create(t, s, job)
	ctx := t.Context()
	for _, id := range []string{"nope", "job-", "job-1x", "JOB-1"} {
		if _, err := s.Get(ctx, id); !errors.Is(err, joblog.ErrNotFound) {
			t.Errorf("Get(%q): err = %v, want ErrNotFound", id, err)
		}
		called := false
		if _, err := s.Update(ctx, id, func(*joblog.Record) { called = true }); !errors.Is(err, joblog.ErrNotFound) {
			t.Errorf("Update(%q): err = %v, want ErrNotFound", id, err)
		}
		if called {
			t.Errorf("Update(%q) called change for a job there is not", id)
		}
		if err := s.Append(ctx, id, []byte("x")); !errors.Is(err, joblog.ErrNotFound) {
			t.Errorf("Append(%q): err = %v, want ErrNotFound", id, err)
		}
		if _, _, err := s.Output(ctx, id, 0, 10); !errors.Is(err, joblog.ErrNotFound) {
			t.Errorf("Output(%q): err = %v, want ErrNotFound", id, err)
		}
	}
	// Appending to a job there is not creates nothing.
	assertList(t, s, "", 10, job)
}

func testAppendOutput(t *testing.T, s joblog.Store) {
	create(t, s, job)
	assertOutput(t, s, job.ID, "")
	for _, p := range []string{"Initializing...\n", "", "Plan: 1 to add, ", "0 to change, 0 to destroy.\n"} {
		appendOutput(t, s, job.ID, p)
	}
	const all = "Initializing...\nPlan: 1 to add, 0 to change, 0 to destroy.\n"
	assertOutput(t, s, job.ID, all)
	if got := get(t, s, job.ID).Size; got != int64(len(all)) {
		t.Errorf("Size = %d, want %d", got, len(all))
	}
	for _, tt := range []struct {
		offset int64
		max    int
		want   string
	}{
		{0, 1 << 20, all},
		{0, 5, all[:5]},
		{3, 20, all[3:23]},   // across appends
		{16, 16, all[16:32]}, // exactly the third append
		{int64(len(all)) - 4, 100, all[len(all)-4:]},
		{int64(len(all)), 100, ""},      // at the end
		{int64(len(all)) + 10, 100, ""}, // past the end
		{5, 0, ""},                      // nothing asked
	} {
		p, rec, err := s.Output(t.Context(), job.ID, tt.offset, tt.max)
		if err != nil {
			t.Errorf("Output(%d, %d): %v", tt.offset, tt.max, err)
			continue
		}
		if string(p) != tt.want {
			t.Errorf("Output(%d, %d) = %q, want %q", tt.offset, tt.max, p, tt.want)
		}
		if rec.ID != job.ID || rec.Size != int64(len(all)) {
			t.Errorf("Output(%d, %d) record = %+v, want job %s of size %d", tt.offset, tt.max, rec, job.ID, len(all))
		}
	}
	if _, _, err := s.Output(t.Context(), job.ID, -1, 10); err == nil || errors.Is(err, joblog.ErrNotFound) {
		t.Errorf("Output at offset -1: err = %v, want an error other than ErrNotFound", err)
	}
}

// testFollowRunningJob reads a job in small pieces while it runs, as the
// UI's live log does, until the record says it ended and all is read.
func testFollowRunningJob(t *testing.T, s joblog.Store) {
	create(t, s, job)
	var want bytes.Buffer
	for i := range 100 {
		fmt.Fprintf(&want, "step %d: %s\n", i, strings.Repeat("x", i%17))
	}
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			if _, err := s.Update(t.Context(), job.ID, func(r *joblog.Record) { r.State, r.Started = joblog.Running, time.Now() }); err != nil {
				return err
			}
			for line := range bytes.Lines(want.Bytes()) {
				if err := s.Append(t.Context(), job.ID, line); err != nil {
					return err
				}
			}
			_, err := s.Update(t.Context(), job.ID, func(r *joblog.Record) { r.State, r.Ended = joblog.Succeeded, time.Now() })
			return err
		}()
	}()
	var got []byte
	for deadline := time.Now().Add(10 * time.Second); ; {
		p, rec, err := s.Output(t.Context(), job.ID, int64(len(got)), 13)
		if err != nil {
			t.Fatalf("Output at %d: %v", len(got), err)
		}
		got = append(got, p...)
		if rec.State.Ended() && int64(len(got)) == rec.Size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s, read %d bytes of a job in state %s of size %d", len(got), rec.State, rec.Size)
		}
		if len(p) == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("running the job: %v", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("output read in pieces while the job ran:\n%q\nwant\n%q", got, want.Bytes())
	}
}

// testCapAtBoundary pins the kept length: output up to keptData bytes is
// kept whole; the next byte cuts it to keptData bytes and Truncated,
// MaxOutput in all; later appends are dropped.
func testCapAtBoundary(t *testing.T, s joblog.Store) {
	create(t, s, job)
	data := bytes.Repeat([]byte("0123456789abcde\n"), keptData/16+1)[:keptData]
	for p := range slices.Chunk(data, 256<<10) {
		appendBytes(t, s, job.ID, p)
	}
	if got := get(t, s, job.ID).Size; got != int64(keptData) {
		t.Fatalf("Size after %d bytes = %d, want them all", keptData, got)
	}
	assertOutputBytes(t, s, job.ID, data)
	appendOutput(t, s, job.ID, "")
	assertOutputBytes(t, s, job.ID, data)
	appendOutput(t, s, job.ID, "!")
	want := append(slices.Clip(data), joblog.Truncated...)
	if len(want) != joblog.MaxOutput {
		t.Fatalf("the suite is wrong: a cut output is %d bytes, not MaxOutput", len(want))
	}
	assertOutputBytes(t, s, job.ID, want)
	for range 3 {
		appendOutput(t, s, job.ID, "more\n")
	}
	assertOutputBytes(t, s, job.ID, want)
	if got := get(t, s, job.ID).Size; got != joblog.MaxOutput {
		t.Errorf("Size of a cut output = %d, want MaxOutput", got)
	}
}

func testCapOneBigAppend(t *testing.T, s joblog.Store) {
	create(t, s, job)
	appendOutput(t, s, job.ID, "head\n")
	big := bytes.Repeat([]byte{'z'}, joblog.MaxOutput+1000)
	appendBytes(t, s, job.ID, big)
	want := append([]byte("head\n"), big[:keptData-5]...)
	want = append(want, joblog.Truncated...)
	assertOutputBytes(t, s, job.ID, want)
	// A read of the tail sees the note whole.
	p, rec, err := s.Output(t.Context(), job.ID, joblog.MaxOutput-int64(len(joblog.Truncated)), 1000)
	if err != nil || string(p) != joblog.Truncated || rec.Size != joblog.MaxOutput {
		t.Errorf("Output of the tail = %q, size %d, %v; want the note, size MaxOutput", p, rec.Size, err)
	}
}

func testConcurrentAppends(t *testing.T, s joblog.Store) {
	create(t, s, job)
	const writers, lines = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				if err := s.Append(t.Context(), job.ID, fmt.Appendf(nil, "writer %d line %d\n", w, i)); err != nil {
					t.Errorf("Append by writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	p, rec, err := s.Output(t.Context(), job.ID, 0, joblog.MaxOutput)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Size != int64(len(p)) {
		t.Errorf("Size = %d, but the output is %d bytes", rec.Size, len(p))
	}
	next := make([]int, writers) // each writer's next line
	for line := range strings.Lines(string(p)) {
		var w, i int
		if _, err := fmt.Sscanf(line, "writer %d line %d\n", &w, &i); err != nil || w < 0 || w >= writers || i != next[w] {
			t.Fatalf("unexpected line %q in the output (lines expected next: %v)", line, next)
		}
		next[w]++
	}
	for w, n := range next {
		if n != lines {
			t.Errorf("writer %d: %d lines kept, want %d", w, n, lines)
		}
	}
}

// testConcurrentAppendsPastCap has writers append more than MaxOutput in
// all at once: the note is written once, each append is kept whole or cut
// at the end or dropped, never interleaved with another.
func testConcurrentAppendsPastCap(t *testing.T, s joblog.Store) {
	create(t, s, job)
	const writers, appends, chunk = 8, 10, 64 << 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				p := bytes.Repeat([]byte{byte('a' + w*appends + i)}, chunk)
				if err := s.Append(t.Context(), job.ID, p); err != nil {
					t.Errorf("Append by writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	p, rec, err := s.Output(t.Context(), job.ID, 0, 2*joblog.MaxOutput)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Size != joblog.MaxOutput || len(p) != joblog.MaxOutput {
		t.Fatalf("Size = %d, output %d bytes; want MaxOutput (%d)", rec.Size, len(p), joblog.MaxOutput)
	}
	if n := bytes.Count(p, []byte(joblog.Truncated)); n != 1 || !bytes.HasSuffix(p, []byte(joblog.Truncated)) {
		t.Fatalf("the note appears %d times, at the end: %v; want once, at the end", n, bytes.HasSuffix(p, []byte(joblog.Truncated)))
	}
	seen := map[byte]bool{}
	for piece := range slices.Chunk(p[:keptData], chunk) {
		if c := piece[0]; seen[c] || bytes.Count(piece, []byte{c}) != len(piece) {
			t.Fatalf("an append's bytes are split or interleaved at %q", piece[:min(len(piece), 8)])
		}
		seen[piece[0]] = true
	}
}

func testListNewestFirst(t *testing.T, s joblog.Store) {
	var recs []joblog.Record
	for i := range 6 {
		recs = append(recs, joblog.Record{
			ID: fmt.Sprint("job-", i), Forge: "github", Repo: []string{"owner/a", "owner/b"}[i%2], Pull: i,
			Command: "plan", User: "alice", State: joblog.Queued, Created: t0.Add(time.Duration(i) * time.Second),
		})
	}
	for _, i := range []int{3, 0, 5, 1, 4, 2} {
		create(t, s, recs[i])
	}
	appendOutput(t, s, "job-4", "four\n")
	recs[4].Size = 5
	newest := slices.Clone(recs)
	slices.Reverse(newest)
	assertList(t, s, "", 100, newest...)
	assertList(t, s, "", 6, newest...)
	assertList(t, s, "", 2, newest[:2]...)
	assertList(t, s, "", 0)
	assertList(t, s, "owner/a", 100, recs[4], recs[2], recs[0])
	assertList(t, s, "owner/b", 2, recs[5], recs[3])
	assertList(t, s, "owner/c", 100)
	assertList(t, s, "owner", 100)
}

// testBinarySafe appends every byte value, NULs and invalid UTF-8
// included, and reads back the same bytes.
func testBinarySafe(t *testing.T, s joblog.Store) {
	create(t, s, job)
	var want []byte
	for range 3 {
		for b := range 256 {
			want = append(want, byte(255-b))
		}
	}
	want = append(want, "\r\n\x00\xff\xfe\xc3("...)
	for p := range slices.Chunk(want, 100) {
		appendBytes(t, s, job.ID, p)
	}
	assertOutputBytes(t, s, job.ID, want)
	p, _, err := s.Output(t.Context(), job.ID, 250, 12)
	if err != nil || !bytes.Equal(p, want[250:262]) {
		t.Errorf("Output(250, 12) = %q, %v; want %q", p, err, want[250:262])
	}
}

// testOddIDs keeps jobs apart whose ids are prefixes of one another or
// hold separators.
func testOddIDs(t *testing.T, s joblog.Store) {
	ids := []string{"a", "ab", "a\x00b", "a/b", "a:b", "a b", "{a}", "répertoire/日本語", "a\nb"}
	var recs []joblog.Record
	for i, id := range ids {
		r := job
		r.ID, r.Created = id, t0.Add(time.Duration(i)*time.Second)
		create(t, s, r)
		recs = append(recs, r)
	}
	for i, id := range ids {
		appendOutput(t, s, id, "output of "+id)
		recs[i].Size = int64(len("output of " + id))
	}
	for i, id := range ids {
		assertRecord(t, fmt.Sprintf("Get(%q)", id), get(t, s, id), recs[i])
		assertOutput(t, s, id, "output of "+id)
	}
	slices.Reverse(recs)
	assertList(t, s, "", 100, recs...)
}

func testCancelledContext(t *testing.T, s joblog.Store) {
	create(t, s, job)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: err = %v, want context.Canceled", what, err)
		}
	}
	check("Create", s.Create(ctx, joblog.Record{ID: "job-2"}))
	_, err := s.Update(ctx, job.ID, func(*joblog.Record) {})
	check("Update", err)
	check("Append", s.Append(ctx, job.ID, []byte("x")))
	_, err = s.Get(ctx, job.ID)
	check("Get", err)
	_, _, err = s.Output(ctx, job.ID, 0, 10)
	check("Output", err)
	_, err = s.List(ctx, "", 10)
	check("List", err)
}

// expiryRetention is the retention testExpiry gives its store: short, so
// that the suite stays fast, and long enough for its steps to fit in.
const expiryRetention = 1500 * time.Millisecond

// testExpiry checks that a job is forgotten retention after its last
// change, and that appending and updating are changes.
func testExpiry(t *testing.T, s joblog.Store) {
	ctx := t.Context()
	idle, appended, updated := job, job, job
	idle.ID, appended.ID, updated.ID = "idle", "appended", "updated"
	appended.Created, updated.Created = t0.Add(time.Second), t0.Add(2*time.Second)
	for _, r := range []joblog.Record{idle, appended, updated} {
		create(t, s, r)
	}
	appendOutput(t, s, idle.ID, "idle output")
	time.Sleep(expiryRetention / 2)
	appendOutput(t, s, appended.ID, "still here")
	appended.Size = int64(len("still here"))
	if _, err := s.Update(ctx, updated.ID, func(r *joblog.Record) { r.State = joblog.Running }); err != nil {
		t.Fatalf("Update: %v", err)
	}
	updated.State = joblog.Running
	time.Sleep(expiryRetention/2 + 100*time.Millisecond)

	// idle last changed more than the retention ago: gone, everywhere.
	if _, err := s.Get(ctx, idle.ID); !errors.Is(err, joblog.ErrNotFound) {
		t.Errorf("Get of an expired job: err = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Output(ctx, idle.ID, 0, 100); !errors.Is(err, joblog.ErrNotFound) {
		t.Errorf("Output of an expired job: err = %v, want ErrNotFound", err)
	}
	if err := s.Append(ctx, idle.ID, []byte("late")); !errors.Is(err, joblog.ErrNotFound) {
		t.Errorf("Append to an expired job: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Update(ctx, idle.ID, func(r *joblog.Record) { r.State = joblog.Failed }); !errors.Is(err, joblog.ErrNotFound) {
		t.Errorf("Update of an expired job: err = %v, want ErrNotFound", err)
	}
	assertRecord(t, "Get of a job appended to since", get(t, s, appended.ID), appended)
	assertRecord(t, "Get of a job updated since", get(t, s, updated.ID), updated)
	assertList(t, s, "", 10, updated, appended)

	// A new job of the expired one's id starts afresh.
	again := idle
	again.Created = t0.Add(3 * time.Second)
	create(t, s, again)
	assertOutput(t, s, again.ID, "")
	assertList(t, s, "", 10, again, updated, appended)

	waitUntil(t, "the other jobs to expire", func() bool {
		got, err := s.List(ctx, "", 10)
		return err == nil && len(got) == 1 && got[0].ID == again.ID
	})
	for _, id := range []string{appended.ID, updated.ID} {
		if _, _, err := s.Output(ctx, id, 0, 100); !errors.Is(err, joblog.ErrNotFound) {
			t.Errorf("Output of expired job %s: err = %v, want ErrNotFound", id, err)
		}
	}
}

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

func create(t *testing.T, s joblog.Store, r joblog.Record) {
	t.Helper()
	if err := s.Create(t.Context(), r); err != nil {
		t.Fatalf("Create(%+v): %v", r, err)
	}
}

func get(t *testing.T, s joblog.Store, id string) joblog.Record {
	t.Helper()
	r, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return r
}

func appendOutput(t *testing.T, s joblog.Store, id, p string) {
	t.Helper()
	appendBytes(t, s, id, []byte(p))
}

func appendBytes(t *testing.T, s joblog.Store, id string, p []byte) {
	t.Helper()
	if err := s.Append(t.Context(), id, p); err != nil {
		t.Fatalf("Append(%q, %d bytes): %v", id, len(p), err)
	}
}

func assertOutput(t *testing.T, s joblog.Store, id, want string) {
	t.Helper()
	assertOutputBytes(t, s, id, []byte(want))
}

// assertOutputBytes reads job id's whole output in one call and checks
// it and the record's Size against want.
func assertOutputBytes(t *testing.T, s joblog.Store, id string, want []byte) {
	t.Helper()
	p, rec, err := s.Output(t.Context(), id, 0, 2*joblog.MaxOutput)
	if err != nil {
		t.Fatalf("Output(%q): %v", id, err)
	}
	if !bytes.Equal(p, want) {
		t.Errorf("output of job %q (%d bytes) = %.200q…, want (%d bytes) %.200q…", id, len(p), p, len(want), want)
	}
	if rec.ID != id || rec.Size != int64(len(p)) {
		t.Errorf("Output(%q) record: id %q, size %d; want size %d", id, rec.ID, rec.Size, len(p))
	}
}

func assertList(t *testing.T, s joblog.Store, repo string, limit int, want ...joblog.Record) {
	t.Helper()
	got, err := s.List(t.Context(), repo, limit)
	if err != nil {
		t.Fatalf("List(%q, %d): %v", repo, limit, err)
	}
	if !slices.EqualFunc(got, want, equalRecords) {
		t.Errorf("List(%q, %d) =\n%s\nwant\n%s", repo, limit, formatRecords(got), formatRecords(want))
	}
}

func assertRecord(t *testing.T, what string, got, want joblog.Record) {
	t.Helper()
	if !equalRecords(got, want) {
		t.Errorf("%s = %+v\nwant %+v", what, got, want)
	}
}

// equalRecords compares records field by field, times as instants.
func equalRecords(a, b joblog.Record) bool {
	return a.ID == b.ID && a.Forge == b.Forge && a.Repo == b.Repo && a.Pull == b.Pull && a.Ref == b.Ref && a.Command == b.Command &&
		a.User == b.User && a.State == b.State && a.Created.Equal(b.Created) && a.Started.Equal(b.Started) &&
		a.Ended.Equal(b.Ended) && a.Size == b.Size && slices.Equal(a.Projects, b.Projects)
}

func formatRecords(recs []joblog.Record) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "\t%+v\n", r)
	}
	return b.String()
}
