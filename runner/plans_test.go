package runner

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/atoll-iac/atoll/locking/redistest"
)

func TestPlanRecordsAreKeptApart(t *testing.T) {
	t.Parallel()
	ws := NewWorkspaces(t.TempDir(), nil)
	root, err := ws.pullDir("acme/infra", 1)
	if err != nil {
		t.Fatal(err)
	}
	w := &Workspace{Name: "default", root: filepath.Join(root, "default"), done: func() {}}
	// Each key is a project that must not share files with another: the
	// root directory, a directory and a name spelled alike, names with
	// slashes, and two names in one directory. (Names are unique in a
	// repository's config: a name is one project wherever its directory.)
	keys := []PlanKey{
		{Dir: "."},
		{Dir: ".."},
		{Dir: "app"},
		{Dir: "app", Name: "app"},
		{Dir: "app", Name: "blue"},
		{Dir: "app", Name: "paint/blue"},
		{Dir: "paint/blue"},
	}
	files := map[string]PlanKey{}
	for _, k := range keys {
		for _, f := range []string{w.PlanFile(k), w.ShowFile(k), w.recordFile(k)} {
			if prev, dup := files[f]; dup {
				t.Errorf("%+v and %+v share %s", prev, k, f)
			}
			files[f] = k
		}
		if err := w.SaveRecord(t.Context(), PlanRecord{Dir: k.Dir, Name: k.Name, Workspace: "default", State: Planned}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := ws.Records(t.Context(), "acme/infra", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(keys) {
		t.Fatalf("Records found %d records, want %d: %+v", len(recs), len(keys), recs)
	}
	for _, k := range keys {
		rec, ok, err := w.Record(t.Context(), k)
		if err != nil || !ok || rec.Key() != k {
			t.Errorf("Record(%+v) = %+v, %v, %v", k, rec, ok, err)
		}
	}
}

func TestSharedPlansCarryTheLockFile(t *testing.T) {
	t.Parallel()
	store := NewRedisPlans(redistest.Start(t, redistest.Options{}).Client(t), "")
	rec := PlanRecord{Dir: "app", Workspace: "default", State: Planned}
	// Replica a planned: its init wrote a lock file beside the config.
	a := &Workspace{Name: "default", Dir: t.TempDir(), root: t.TempDir(), repo: "acme/infra", pull: 1, shared: store}
	for path, body := range map[string]string{a.PlanFile(rec.Key()): "plan", filepath.Join(a.Dir, "app", ".terraform.lock.hcl"): "# lock"} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.KeepPlan(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	// Replica b applies, in its own checkout.
	b := &Workspace{Name: "default", Dir: t.TempDir(), root: t.TempDir(), repo: "acme/infra", pull: 1, shared: store}
	if err := os.MkdirAll(filepath.Join(b.Dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := b.FetchPlan(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{b.PlanFile(rec.Key()): "plan", filepath.Join(b.Dir, "app", ".terraform.lock.hcl"): "# lock"} {
		if got, err := os.ReadFile(path); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if err := b.DropPlan(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if err := b.FetchPlan(t.Context(), rec); !errors.Is(err, ErrNoPlanFile) {
		t.Errorf("FetchPlan after DropPlan = %v, want ErrNoPlanFile", err)
	}
	// Past the cap, a clear error.
	big := PlanRecord{Dir: "big", Workspace: "default"}
	if err := store.PutPlan(t.Context(), "acme/infra", 1, big, PlanFiles{Plan: make([]byte, MaxSharedPlan+1)}); !errors.Is(err, ErrPlanTooLarge) {
		t.Errorf("PutPlan past the cap = %v, want ErrPlanTooLarge", err)
	}
}

func TestSharedPlansLockFileStaysInTheCheckout(t *testing.T) {
	t.Parallel()
	store := NewRedisPlans(redistest.Start(t, redistest.Options{}).Client(t), "")
	rec := PlanRecord{Dir: "app", Workspace: "default", State: Planned}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("do not read"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A pull request commits its lock file as a link to a file of the
	// server, on both replicas.
	newWorkspace := func() *Workspace {
		w := &Workspace{Name: "default", Dir: t.TempDir(), root: t.TempDir(), repo: "acme/infra", pull: 1, shared: store}
		if err := os.MkdirAll(filepath.Join(w.Dir, "app"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(secret, filepath.Join(w.Dir, "app", ".terraform.lock.hcl")); err != nil {
			t.Fatal(err)
		}
		return w
	}
	a, b := newWorkspace(), newWorkspace()
	if err := os.MkdirAll(filepath.Dir(a.PlanFile(rec.Key())), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.PlanFile(rec.Key()), []byte("plan"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.KeepPlan(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	files, err := store.GetPlan(t.Context(), "acme/infra", 1, rec)
	if err != nil || files.Lock != nil {
		t.Errorf("the linked file was read into the store: %q, %v", files.Lock, err)
	}
	if err := store.PutPlan(t.Context(), "acme/infra", 1, rec, PlanFiles{Plan: []byte("plan"), Lock: []byte("# lock")}); err != nil {
		t.Fatal(err)
	}
	if err := b.FetchPlan(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(secret); string(got) != "do not read" {
		t.Errorf("the file the link pointed to was written: %q", got)
	}
	if got, err := os.ReadFile(filepath.Join(b.Dir, "app", ".terraform.lock.hcl")); err != nil || string(got) != "# lock" {
		t.Errorf("the lock file in the checkout = %q, %v", got, err)
	}
}
