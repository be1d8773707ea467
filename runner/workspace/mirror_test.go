package workspace

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// pullsRepo serves a repository of 40 files, main then pulls pull
// requests, each replacing one file of main's, f1.tf for the first, f2.tf
// for the second …; files differ from each other on main and read "pull
// N" in pull request N. It returns a checkout spec without a pull request
// or commit, main's head and the pull requests' heads.
func pullsRepo(t *testing.T, pulls int) (*vcstest.GitHub, CheckoutSpec, string, []string) {
	t.Helper()
	gh := vcstest.NewGitHub(t, vcstest.GitHubOptions{Token: "sekrit"})
	files := map[string]string{}
	for i := range 40 {
		files[fmt.Sprintf("f%d.tf", i)] = strings.Repeat(fmt.Sprintf("# file %d\n", i), 50)
	}
	gh.CreateRepo(t, "acme/infra", files)
	for name := range files {
		files[name] = "main " + name
	}
	base := gh.PushToMain(t, "acme/infra", files)
	var heads []string
	for n := 1; n <= pulls; n++ {
		p := gh.OpenPull(t, "acme/infra", vcstest.PullSpec{Files: map[string]string{fmt.Sprintf("f%d.tf", n): fmt.Sprintf("pull %d", n)}})
		heads = append(heads, p.HeadSHA)
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:sekrit"))
	spec := CheckoutSpec{Forge: "github", Repo: "acme/infra", CloneURL: gh.CloneURL("acme/infra"), Auth: auth, Workspace: "default"}
	return gh, spec, base, heads
}

// checkoutPull checks out head as pull request pull and lets it go.
func checkoutPull(t *testing.T, ws *Workspaces, spec CheckoutSpec, pull int, head string) *Workspace {
	t.Helper()
	spec.Pull, spec.SHA = pull, head
	w, err := ws.Checkout(t.Context(), spec)
	if err != nil {
		t.Fatalf("Checkout of #%d: %v", pull, err)
	}
	w.Close()
	return w
}

// wantPullFile checks that the checkout w holds what pull request n of
// pullsRepo changed.
func wantPullFile(t *testing.T, w *Workspace, n int) {
	t.Helper()
	name := fmt.Sprintf("f%d.tf", n)
	if b, err := os.ReadFile(filepath.Join(w.Dir, name)); err != nil || string(b) != fmt.Sprintf("pull %d", n) {
		t.Errorf("%s: %s = %q, %v; want pull request %d's", w.Dir, name, b, err, n)
	}
}

// gitIn runs git on the git directory dir and returns what it printed.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Env = append(os.Environ(), "GIT_DIR="+dir, "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s in %s: %v", strings.Join(args, " "), dir, err)
	}
	return strings.TrimSpace(string(out))
}

// objectCount counts the objects the git directory dir holds itself,
// loose and packed, not those it borrows.
func objectCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(gitIn(t, dir, "count-objects", "-v"), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		if k == "count" || k == "in-pack" {
			i, _ := strconv.Atoi(v)
			n += i
		}
	}
	return n
}

// distinctObjects counts the distinct objects the git directory dir can
// read: a fetched pack may hold again objects that the pack's own deltas
// are against.
func distinctObjects(t *testing.T, dir string) int {
	t.Helper()
	return len(strings.Fields(gitIn(t, dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)")))
}

func mirrorDir(ws *Workspaces, spec CheckoutSpec) string {
	return filepath.Join(ws.root, spec.Forge, filepath.FromSlash(spec.Repo), mirrorName)
}

// A second pull request of a repository downloads and stores only what the
// mirror lacks: its commit, its tree, its one new file, and main's f1.tf,
// which the first pull request's commit, all the mirror has, replaced.
func TestSecondPullFetchesOnlyWhatItChanged(t *testing.T) {
	t.Parallel()
	_, spec, _, heads := pullsRepo(t, 2)
	ws := NewWorkspaces(t.TempDir(), nil)
	mirror := mirrorDir(ws, spec)

	wantPullFile(t, checkoutPull(t, ws, spec, 1, heads[0]), 1)
	before := distinctObjects(t, mirror)
	if before < 40 {
		t.Fatalf("the mirror holds %d objects after the first checkout, want its 40 files and more", before)
	}
	w := checkoutPull(t, ws, spec, 2, heads[1])
	wantPullFile(t, w, 2)
	if got := distinctObjects(t, mirror) - before; got != 4 {
		t.Errorf("the second pull request added %d objects to the mirror, want 4", got)
	}
	for _, root := range []string{w.root, filepath.Join(filepath.Dir(filepath.Dir(w.root)), "@1", "default")} {
		if n := objectCount(t, gitDir(root)); n != 0 {
			t.Errorf("%s holds %d objects of its own, want none", root, n)
		}
	}
}

// Pull requests of one repository checked out at once each get their own
// commit, through one mirror, into which one fetch goes at a time.
func TestConcurrentCheckoutsOfOneRepository(t *testing.T) {
	t.Parallel()
	const pulls = 4
	_, spec, _, heads := pullsRepo(t, pulls)
	// The forge, behind a proxy that counts the git requests in flight.
	forge, err := url.Parse(spec.CloneURL)
	if err != nil {
		t.Fatal(err)
	}
	var inFlight, most atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: forge.Scheme, Host: forge.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	spec.CloneURL = srv.URL + forge.Path

	ws := NewWorkspaces(t.TempDir(), nil)
	for round := range 2 { // fetching, then finding what is there
		var wg sync.WaitGroup
		for i, head := range heads {
			for _, name := range []string{"default", "staging"} {
				wg.Go(func() {
					s := spec
					s.Pull, s.SHA, s.Workspace = i+1, head, name
					w, err := ws.Checkout(t.Context(), s)
					if err != nil {
						t.Errorf("round %d, #%d %s: %v", round, i+1, name, err)
						return
					}
					w.Close()
					wantPullFile(t, w, i+1)
				})
			}
		}
		wg.Wait()
	}
	if n := most.Load(); n != 1 {
		t.Errorf("%d git requests went to the forge at once, want 1", n)
	}
	refs := gitIn(t, mirrorDir(ws, spec), "for-each-ref", "--format=%(refname)", "refs/atoll")
	for i, head := range heads {
		if want := pullRef(i+1, head); !strings.Contains(refs, want) {
			t.Errorf("the mirror lacks %s; it has\n%s", want, refs)
		}
	}
}

// Remove lets go of what the pull request held in the mirror, and of
// nothing another pull request holds.
func TestRemoveDropsThePullsRefs(t *testing.T) {
	t.Parallel()
	gh, spec, base, heads := pullsRepo(t, 2)
	ws := NewWorkspaces(t.TempDir(), nil)
	mirror := mirrorDir(ws, spec)
	w := checkoutPull(t, ws, spec, 1, heads[0])
	if changed, err := w.ChangedFrom(t.Context(), base); err != nil || strings.Join(changed, " ") != "f1.tf" {
		t.Errorf("ChangedFrom(main) = %q, %v; want f1.tf", changed, err)
	}
	checkoutPull(t, ws, spec, 2, heads[1])
	if got := gitIn(t, mirror, "for-each-ref", "--format=%(refname)", pullRefs(1)); got != pullRef(1, base)+"\n"+pullRef(1, heads[0]) &&
		got != pullRef(1, heads[0])+"\n"+pullRef(1, base) {
		t.Errorf("pull request 1 holds\n%s\nwant its head and main", got)
	}

	if err := ws.Remove(t.Context(), spec.Forge, spec.Repo, 1); err != nil {
		t.Fatal(err)
	}
	if got := gitIn(t, mirror, "for-each-ref", "--format=%(refname)", pullRefs(1)); got != "" {
		t.Errorf("after Remove, pull request 1 still holds\n%s", got)
	}
	if got := gitIn(t, mirror, "for-each-ref", "--format=%(refname)", pullRefs(2)); got != pullRef(2, heads[1]) {
		t.Errorf("pull request 2 holds %q, want its head", got)
	}
	if _, err := os.Stat(filepath.Dir(w.root)); !os.IsNotExist(err) {
		t.Errorf("pull request 1's directory outlived Remove: %v", err)
	}
	requests := gh.GitRequests()
	checkoutPull(t, ws, spec, 2, heads[1])
	if n := gh.GitRequests() - requests; n != 0 {
		t.Errorf("a re-plan of pull request 2 made %d git requests, want none", n)
	}
	if err := ws.Remove(t.Context(), spec.Forge, spec.Repo, 3); err != nil {
		t.Errorf("Remove of a pull request never checked out: %v", err)
	}
	if err := NewWorkspaces(t.TempDir(), nil).Remove(t.Context(), spec.Forge, spec.Repo, 1); err != nil {
		t.Errorf("Remove with no mirror: %v", err)
	}
}

// A workspace from before the mirrors, whose git directory holds its own
// objects and borrows none, still checks out, old commits and new.
func TestCheckoutUpgradesAWorkspaceFromBefore(t *testing.T) {
	t.Parallel()
	_, spec, base, heads := pullsRepo(t, 1)
	ws := NewWorkspaces(t.TempDir(), nil)
	spec.Pull, spec.SHA = 1, base
	root, err := ws.dir(spec)
	if err != nil {
		t.Fatal(err)
	}
	// What Checkout did then: a clone of its own, fetched into.
	if err := os.MkdirAll(workTree(root), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "--quiet"},
		{"fetch", "--quiet", "--no-tags", "--depth=1", "--", spec.CloneURL, base},
		{"checkout", "--quiet", "--force", "--detach", base},
	} {
		if _, err := ws.run(t.Context(), inWorkspace(root), spec.Auth, nil, args...); err != nil {
			t.Fatal(err)
		}
	}
	own := objectCount(t, gitDir(root))

	w, err := ws.Checkout(t.Context(), spec)
	if err != nil {
		t.Fatalf("Checkout of the commit the old workspace holds: %v", err)
	}
	w.Close()
	if _, err := os.Stat(filepath.Join(gitDir(root), "objects", "info", "alternates")); err != nil {
		t.Errorf("the old workspace does not borrow from the mirror: %v", err)
	}
	w = checkoutPull(t, ws, spec, 1, heads[0])
	wantPullFile(t, w, 1)
	if changed, err := w.ChangedFrom(t.Context(), base); err != nil || strings.Join(changed, " ") != "f1.tf" {
		t.Errorf("ChangedFrom(the old workspace's commit) = %q, %v; want f1.tf", changed, err)
	}
	if n := objectCount(t, gitDir(root)); n != own {
		t.Errorf("the old workspace holds %d objects, want the %d it had", n, own)
	}
}

// The mirror holds commits without their parents; git in a workspace,
// which borrows them, must know it, in any command that walks history.
func TestWorkspaceGitKnowsParentsAreMissing(t *testing.T) {
	t.Parallel()
	_, spec, base, heads := pullsRepo(t, 2)
	ws := NewWorkspaces(t.TempDir(), nil)
	checkoutPull(t, ws, spec, 2, heads[1])
	w := checkoutPull(t, ws, spec, 1, heads[0])
	if _, err := w.ChangedFrom(t.Context(), base); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"rev-list", "HEAD"},
		{"log", "--oneline", base, heads[0]},
		{"checkout", "--force", "--detach", base}, // not --quiet: it walks from the old head
		{"checkout", "--force", "--detach", heads[0]},
		{"diff", "--name-only", base, heads[0]},
	} {
		if _, err := ws.run(t.Context(), inWorkspace(w.root), "", nil, args...); err != nil {
			t.Errorf("git %s in the workspace: %v", strings.Join(args, " "), err)
		}
	}
}

// A fetch through the mirror fails as a fetch into a workspace did, and
// leaves the mirror fit for the next.
func TestFetchErrorsThroughTheMirror(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		sha, auth string
		status    int
		transient bool
	}{
		{name: "a commit the forge lacks", sha: strings.Repeat("0123456789", 4)},
		{name: "bad credentials", auth: "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:wrong"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, spec, _, heads := pullsRepo(t, 1)
			ws := NewWorkspaces(t.TempDir(), nil)
			bad := spec
			bad.Pull, bad.SHA = 1, heads[0]
			if tt.sha != "" {
				bad.SHA = tt.sha
			}
			if tt.auth != "" {
				bad.Auth = tt.auth
			}
			_, err := ws.Checkout(t.Context(), bad)
			var fe *FetchError
			if !errors.As(err, &fe) || fe.Tries != 1 || fe.Status != tt.status || fe.Transient != tt.transient || fe.SHA != bad.SHA {
				t.Fatalf("Checkout = %v (%+v); want a FetchError after 1 try, status %d, transient %v", err, fe, tt.status, tt.transient)
			}
			if strings.Contains(err.Error(), "wrong") {
				t.Errorf("the error shows the credentials: %v", err)
			}
			checkoutPull(t, ws, spec, 1, heads[0])
		})
	}
}

// Pull requests share objects, never files: whatever a step of one does
// to its checkout, however it points at the mirror, another pull request's
// checkout of the same commit is the commit's, and the mirror is as it was.
func TestAStepCannotReachAnotherPullThroughTheMirror(t *testing.T) {
	t.Parallel()
	_, spec, _, heads := pullsRepo(t, 1)
	ws := NewWorkspaces(t.TempDir(), nil)
	mirror := mirrorDir(ws, spec)
	w := checkoutPull(t, ws, spec, 1, heads[0])
	for _, dir := range []string{w.Dir, w.Home()} {
		if rel, err := filepath.Rel(dir, mirror); err != nil || !strings.HasPrefix(rel, "..") {
			t.Errorf("the mirror %s is inside %s", mirror, dir)
		}
	}
	config, err := os.ReadFile(filepath.Join(mirror, "config"))
	if err != nil {
		t.Fatal(err)
	}
	objects := gitIn(t, mirror, "count-objects", "-v")

	// The step rewrites its files in place, links others to the
	// mirror's, and points a .git of its own at the mirror.
	if err := os.WriteFile(filepath.Join(w.Dir, "f1.tf"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"f2.tf":   filepath.Join(mirror, "config"),
		"modules": filepath.Join(mirror, "objects"),
	} {
		os.Remove(filepath.Join(w.Dir, name))
		if err := os.Symlink(target, filepath.Join(w.Dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	appendFile(t, filepath.Join(w.Dir, ".git", "objects", "info", "alternates"), filepath.Join(mirror, "objects")+"\n")
	appendFile(t, filepath.Join(w.Dir, ".git", "config"), "[core]\n\tbare = false\n")

	wantPullFile(t, checkoutPull(t, ws, spec, 2, heads[0]), 1)
	wantPullFile(t, checkoutPull(t, ws, spec, 1, heads[0]), 1)
	for _, name := range []string{"f1.tf", "f2.tf"} {
		if fi, err := os.Lstat(filepath.Join(w.Dir, name)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("pull request 1's %s is not a file after a new checkout: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(mirror, "config")); string(b) != string(config) {
		t.Errorf("the mirror's config changed:\n%s", b)
	}
	if got := gitIn(t, mirror, "count-objects", "-v"); got != objects {
		t.Errorf("the mirror's objects changed:\n%s\nwere\n%s", got, objects)
	}
	gitIn(t, mirror, "fsck", "--connectivity-only")
}

// An operator may delete a mirror to give its disk back, while atoll is
// stopped: the workspaces that borrowed from it check out all the same,
// from a mirror fetched afresh.
func TestCheckoutAfterTheMirrorIsDeleted(t *testing.T) {
	t.Parallel()
	_, spec, _, heads := pullsRepo(t, 2)
	ws := NewWorkspaces(t.TempDir(), nil)
	checkoutPull(t, ws, spec, 1, heads[0])
	if err := os.RemoveAll(mirrorDir(ws, spec)); err != nil {
		t.Fatal(err)
	}
	w := checkoutPull(t, ws, spec, 1, heads[1])
	wantPullFile(t, w, 2)
	if b, err := os.ReadFile(filepath.Join(w.Dir, "f1.tf")); err != nil || string(b) != "main f1.tf" {
		t.Errorf("f1.tf = %q, %v; want main's", b, err)
	}
}

// A mirror that kept its refs but lost its objects (a crash, a hand's
// cleanup) fetches the commit again rather than fail every checkout; a
// workspace whose work tree is gone gets a new one.
func TestCheckoutRepairsWhatWentMissing(t *testing.T) {
	t.Parallel()
	_, spec, _, heads := pullsRepo(t, 1)
	ws := NewWorkspaces(t.TempDir(), nil)
	w := checkoutPull(t, ws, spec, 1, heads[0])
	if err := os.RemoveAll(filepath.Join(mirrorDir(ws, spec), "objects")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(mirrorDir(ws, spec), "objects", "pack"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec.Workspace = "staging" // a new workspace of the same pull request
	wantPullFile(t, checkoutPull(t, ws, spec, 1, heads[0]), 1)

	spec.Workspace = "default"
	if err := os.RemoveAll(w.Dir); err != nil {
		t.Fatal(err)
	}
	wantPullFile(t, checkoutPull(t, ws, spec, 1, heads[0]), 1)
}

// Prefetch brings the commits of several pull requests in one fetch; their
// checkouts then fetch nothing more, and a commit held already is not
// asked for again.
func TestPrefetchFillsTheMirrorAtOnce(t *testing.T) {
	t.Parallel()
	gh, spec, base, heads := pullsRepo(t, 3)
	ws := NewWorkspaces(t.TempDir(), nil)
	var specs []CheckoutSpec
	for i, h := range heads {
		s := spec
		s.Pull, s.SHA = i+1, h
		specs = append(specs, s)
	}
	// Only from where a checkout fetched the repository before: not yet,
	// and not from elsewhere.
	if err := ws.Prefetch(t.Context(), specs); err == nil {
		t.Error("Prefetch fetched a repository that no checkout had fetched")
	}
	checkoutPull(t, ws, spec, 99, base)
	elsewhere := slices.Clone(specs)
	elsewhere[0].CloneURL = strings.Replace(spec.CloneURL, "127.0.0.1", "localhost", 1)
	if err := ws.Prefetch(t.Context(), elsewhere); err == nil {
		t.Error("Prefetch fetched from another URL than the checkout's")
	}
	before := gh.Connections().Git
	if err := ws.Prefetch(t.Context(), specs); err != nil {
		t.Fatal(err)
	}
	fetched := gh.Connections().Git - before
	if fetched == 0 {
		t.Fatal("Prefetch made no connection to the forge")
	}
	for i, h := range heads {
		wantPullFile(t, checkoutPull(t, ws, spec, i+1, h), i+1)
	}
	if err := ws.Prefetch(t.Context(), specs); err != nil {
		t.Fatal(err)
	}
	if n := gh.Connections().Git - before; n != fetched {
		t.Errorf("the checkouts and a second Prefetch made %d more connections to the forge, want none", n-fetched)
	}
	other := spec
	other.Repo, other.Pull, other.SHA = "acme/other", 9, heads[0]
	if err := ws.Prefetch(t.Context(), append(specs[:1:1], other)); err == nil {
		t.Error("Prefetch took two repositories at once")
	}
}
