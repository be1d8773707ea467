package plans

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/atoll-iac/atoll/locking/redistest"
)

// stores runs fn against each Store: Local, carried or not, and Redis on
// a real redis-server.
func stores(t *testing.T, fn func(t *testing.T, s Store)) {
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		fn(t, NewLocal(t.TempDir()))
	})
	t.Run("carried", func(t *testing.T) {
		t.Parallel()
		fn(t, NewCarried(t.TempDir()))
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		fn(t, NewRedis(redistest.Start(t, redistest.Options{}).Client(t), "atoll:", t.TempDir()))
	})
}

func TestPlanRecordsAreKeptApart(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, s Store) {
		pull := Pull{Forge: "github", Repo: "acme/infra", Number: 1}
		// Each key is a project that must not share files with another: the
		// root directory, a directory and a name spelled alike, names with
		// slashes, and two names in one directory. (Names are unique in a
		// repository's config: a name is one project wherever its directory.)
		keys := []Key{
			{Dir: "."},
			{Dir: ".."},
			{Dir: "app"},
			{Dir: "app", Name: "app"},
			{Dir: "app", Name: "blue"},
			{Dir: "app", Name: "paint/blue"},
			{Dir: "paint/blue"},
		}
		files := map[string]Key{}
		for _, k := range keys {
			rec := Record{Dir: k.Dir, Name: k.Name, Workspace: "default", State: Planned}
			for _, other := range []Pull{pull, {Forge: "github", Repo: "acme/infra", Number: 2}, {Forge: "github", Repo: "acme/other", Number: 1},
				{Forge: "gitlab", Repo: "acme/infra", Number: 1}, {Forge: "gitlab", Repo: "acme/infra/1", Number: 1}} {
				f, err := s.Files(other, rec)
				if err != nil {
					t.Fatal(err)
				}
				for _, path := range []string{f.Plan, f.Show} {
					if prev, dup := files[path]; dup {
						t.Errorf("%+v and %+v share %s", prev, k, path)
					}
					files[path] = k
				}
			}
			if err := s.SaveRecord(t.Context(), pull, rec); err != nil {
				t.Fatal(err)
			}
		}
		recs, err := s.Records(t.Context(), pull)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(keys) {
			t.Fatalf("Records found %d records, want %d: %+v", len(recs), len(keys), recs)
		}
		for _, k := range keys {
			rec, ok, err := Find(t.Context(), s, pull, "default", k)
			if err != nil || !ok || rec.Key() != k {
				t.Errorf("Find(%+v) = %+v, %v, %v", k, rec, ok, err)
			}
		}
		if _, ok, err := Find(t.Context(), s, pull, "staging", keys[0]); err != nil || ok {
			t.Errorf("Find in another workspace = %v, %v; want none", ok, err)
		}
	})
}

func TestPlansRefuseUnsafeNames(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, s Store) {
		for _, tt := range []struct {
			pull Pull
			ws   string
		}{
			{Pull{Forge: "github", Repo: "../etc", Number: 1}, "default"},
			{Pull{Forge: "github", Repo: "acme/..", Number: 1}, "default"},
			{Pull{Forge: "github", Repo: "acme/infra", Number: 1}, "../x"},
			{Pull{Forge: "github", Repo: "acme/infra", Number: 1}, ".."},
			{Pull{Forge: "", Repo: "acme/infra", Number: 1}, "default"},
		} {
			if f, err := s.Files(tt.pull, Record{Dir: ".", Workspace: tt.ws}); err == nil {
				t.Errorf("Files(%+v, %q) = %+v, want an error", tt.pull, tt.ws, f)
			}
		}
	})
}

// The life of a plan: kept after it is made, fetched for its apply,
// dropped once applied; discarding forgets the records but not the
// comments that showed them.
func TestPlanFilesLifecycle(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, s Store) {
		ctx, pull := t.Context(), Pull{Forge: "github", Repo: "acme/infra", Number: 1}
		rec := Record{Dir: "app", Workspace: "default", State: Planned}
		if _, err := s.Fetch(ctx, pull, rec); !errors.Is(err, ErrNoPlanFile) {
			t.Errorf("Fetch before any plan = %v, want ErrNoPlanFile", err)
		}
		writePlan(t, s, pull, rec, "plan")
		if err := s.Keep(ctx, pull, rec, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveRecord(ctx, pull, rec); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Fetch(ctx, pull, rec); err != nil {
			t.Fatalf("Fetch of a kept plan: %v", err)
		}
		changed, err := s.UpdateRecords(ctx, pull, func(r *Record) bool { r.State = Applying; return true })
		if err != nil || len(changed) != 1 || changed[0].State != Applying {
			t.Fatalf("UpdateRecords = %+v, %v", changed, err)
		}
		if err := s.Drop(ctx, pull, rec); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Fetch(ctx, pull, rec); !errors.Is(err, ErrNoPlanFile) {
			t.Errorf("Fetch after Drop = %v, want ErrNoPlanFile", err)
		}
		if _, err := s.SwapComments(ctx, pull, []int64{7}); err != nil {
			t.Fatal(err)
		}
		discarded, err := s.Discard(ctx, pull)
		if err != nil || len(discarded) != 1 || discarded[0].State != Applying {
			t.Fatalf("Discard = %+v, %v; want the applying record", discarded, err)
		}
		if recs, err := s.Records(ctx, pull); err != nil || len(recs) != 0 {
			t.Errorf("records after Discard: %+v, %v", recs, err)
		}
		if prev, err := s.SwapComments(ctx, pull, nil); err != nil || !slices.Equal(prev, []int64{7}) {
			t.Errorf("comments after Discard = %v, %v; want [7]", prev, err)
		}
		if prev, err := s.SwapComments(ctx, pull, nil); err != nil || prev != nil {
			t.Errorf("comments after they were forgotten = %v, %v", prev, err)
		}
	})
}

// writePlan writes a plan file for rec, as the tool would.
func writePlan(t *testing.T, s Store, pull Pull, rec Record, body string) {
	t.Helper()
	f, err := s.Files(pull, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(f.Plan), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Plan, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSharedPlansTravelWithTheirLockFile(t *testing.T) {
	t.Parallel()
	client := redistest.Start(t, redistest.Options{}).Client(t)
	ctx, pull := t.Context(), Pull{Forge: "github", Repo: "acme/infra", Number: 1}
	rec := Record{Dir: "app", Workspace: "default", State: Planned}
	// Replica a planned; its init wrote a lock file beside the config.
	a := NewRedis(client, "atoll:", t.TempDir())
	writePlan(t, a, pull, rec, "plan")
	if err := a.Keep(ctx, pull, rec, []byte("# lock")); err != nil {
		t.Fatal(err)
	}
	// Replica b applies, with its own files.
	b := NewRedis(client, "atoll:", t.TempDir())
	lock, err := b.Fetch(ctx, pull, rec)
	if err != nil || string(lock) != "# lock" {
		t.Fatalf("Fetch = %q, %v; want the lock file", lock, err)
	}
	f, err := b.Files(pull, rec)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(f.Plan); err != nil || string(got) != "plan" {
		t.Errorf("the plan file on the replica that applies = %q, %v", got, err)
	}
	if err := b.Drop(ctx, pull, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Fetch(ctx, pull, rec); !errors.Is(err, ErrNoPlanFile) {
		t.Errorf("Fetch on another replica after Drop = %v, want ErrNoPlanFile", err)
	}
	// Past the cap, a clear error.
	big := Record{Dir: "big", Workspace: "default"}
	writePlan(t, a, pull, big, string(make([]byte, MaxSharedPlan+1)))
	if err := a.Keep(ctx, pull, big, nil); !errors.Is(err, ErrPlanTooLarge) {
		t.Errorf("Keep past the cap = %v, want ErrPlanTooLarge", err)
	}
}

// A carried plans directory, copied to another machine (a CI artifact
// restored in the apply's job), brings the plan and its lock file.
func TestCarriedPlansTravelWithTheirLockFile(t *testing.T) {
	t.Parallel()
	ctx, pull := t.Context(), Pull{Forge: "gitlab", Repo: "acme/sub/infra", Number: 7}
	rec := Record{Dir: "app", Workspace: "default", State: Planned}
	planDir := t.TempDir()
	a := NewCarried(planDir)
	writePlan(t, a, pull, rec, "plan")
	if err := a.Keep(ctx, pull, rec, []byte("# lock")); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveRecord(ctx, pull, rec); err != nil {
		t.Fatal(err)
	}
	applyDir := t.TempDir()
	if out, err := exec.Command("cp", "-a", planDir+"/.", applyDir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	b := NewCarried(applyDir)
	if !b.Shared() || NewLocal(applyDir).Shared() {
		t.Error("a carried store must say its plans may be applied elsewhere, and a local one not")
	}
	if recs, err := b.Records(ctx, pull); err != nil || len(recs) != 1 {
		t.Fatalf("Records after the copy = %+v, %v", recs, err)
	}
	lock, err := b.Fetch(ctx, pull, rec)
	if err != nil || string(lock) != "# lock" {
		t.Fatalf("Fetch = %q, %v; want the lock file", lock, err)
	}
	// What came from elsewhere is read as hostile: no links, nothing huge.
	f, _ := b.Files(pull, rec)
	lockPath := strings.TrimSuffix(f.Plan, ".tfplan") + ".lock.hcl"
	for name, plant := range map[string]func() error{
		"a link":     func() error { return os.Symlink("/etc/passwd", lockPath) },
		"a big file": func() error { return os.WriteFile(lockPath, make([]byte, maxLockFile+1), 0o600) },
	} {
		os.Remove(lockPath)
		if err := plant(); err != nil {
			t.Fatal(err)
		}
		if lock, err := b.Fetch(ctx, pull, rec); err == nil {
			t.Errorf("%s as the lock file: Fetch = %q; want an error", name, lock)
		}
	}
	os.Remove(f.Plan)
	if err := os.Symlink("/etc/passwd", f.Plan); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Fetch(ctx, pull, rec); err == nil || errors.Is(err, ErrNoPlanFile) {
		t.Errorf("a link as the plan file: Fetch = %v; want an error", err)
	}
}

// TestPullsWithPlans: Pulls lists the pull requests of one repository
// that have records, not those of another repository, forge or a
// subgroup under it, and forgets a pull request once discarded; Comments
// reads what SwapComments recorded.
func TestPullsWithPlans(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		rec := Record{Dir: ".", Workspace: "default", State: Planned}
		for _, p := range []Pull{
			{Forge: "gitlab", Repo: "acme/infra", Number: 12},
			{Forge: "gitlab", Repo: "acme/infra", Number: 3},
			{Forge: "github", Repo: "acme/infra", Number: 4},
			{Forge: "gitlab", Repo: "acme/infra/sub", Number: 5},
			{Forge: "gitlab", Repo: "acme/other", Number: 6},
		} {
			if err := s.SaveRecord(ctx, p, rec); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.Pulls(ctx, "gitlab", "acme/infra"); err != nil || !slices.Equal(got, []int{3, 12}) {
			t.Errorf("Pulls = %v, %v; want [3 12]", got, err)
		}
		if _, err := s.Discard(ctx, Pull{Forge: "gitlab", Repo: "acme/infra", Number: 3}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Pulls(ctx, "gitlab", "acme/infra"); err != nil || !slices.Equal(got, []int{12}) {
			t.Errorf("Pulls after a discard = %v, %v; want [12]", got, err)
		}
		if got, err := s.Pulls(ctx, "gitlab", "nobody/here"); err != nil || len(got) != 0 {
			t.Errorf("Pulls of a repository without plans = %v, %v", got, err)
		}
		pull := Pull{Forge: "gitlab", Repo: "acme/infra", Number: 12}
		if ids, err := s.Comments(ctx, pull); err != nil || ids != nil {
			t.Errorf("Comments before any = %v, %v", ids, err)
		}
		if _, err := s.SwapComments(ctx, pull, []int64{7, 8}); err != nil {
			t.Fatal(err)
		}
		if ids, err := s.Comments(ctx, pull); err != nil || !slices.Equal(ids, []int64{7, 8}) {
			t.Errorf("Comments = %v, %v; want [7 8]", ids, err)
		}
	})
}

// TestRedisUpdateRecordsKeepsARecordSavedMeanwhile: a record another
// replica saves while UpdateRecords is changing the old one is not
// overwritten: the change is made to the new record, or to none.
func TestRedisUpdateRecordsKeepsARecordSavedMeanwhile(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	ctx, pull := t.Context(), Pull{Forge: "github", Repo: "acme/infra", Number: 2}
	s, other := NewRedis(srv.Client(t), "atoll:", t.TempDir()), NewRedis(srv.Client(t), "atoll:", t.TempDir())
	old := Record{Dir: ".", Workspace: "default", State: Planned, SHA: "old"}
	if err := s.SaveRecord(ctx, pull, old); err != nil {
		t.Fatal(err)
	}
	calls := 0
	changed, err := s.UpdateRecords(ctx, pull, func(rec *Record) bool {
		calls++
		if calls == 1 {
			// The pull request's own job saves a new plan, now.
			fresh := old
			fresh.SHA = "new"
			if err := other.SaveRecord(ctx, pull, fresh); err != nil {
				t.Fatal(err)
			}
		}
		if rec.SHA != "old" {
			return false // only the old plan went stale
		}
		rec.State = Stale
		return true
	})
	if err != nil || len(changed) != 0 {
		t.Errorf("UpdateRecords = %+v, %v; want nothing changed", changed, err)
	}
	recs, err := s.Records(ctx, pull)
	if err != nil || len(recs) != 1 || recs[0].SHA != "new" || recs[0].State != Planned {
		t.Errorf("records = %+v, %v; want the new plan, untouched", recs, err)
	}
}
