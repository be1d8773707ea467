package runner

import (
	"path/filepath"
	"testing"
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
