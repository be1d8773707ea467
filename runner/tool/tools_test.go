package tool

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-version"

	"github.com/atoll-iac/atoll/workflows"
)

func TestResolveInstalled(t *testing.T) {
	t.Parallel()
	binDir := t.TempDir()
	for _, v := range []string{"1.6.2", "1.9.0", "1.11.2", "1.12.0-beta1"} {
		writeTool(t, filepath.Join(binDir, "tofu", v, "tofu"), workflows.OpenTofu, v)
	}
	writeTool(t, filepath.Join(binDir, "tofu", "latest", "tofu"), workflows.OpenTofu, "9.9.9")
	if err := os.MkdirAll(filepath.Join(binDir, "tofu", "1.13.0"), 0o755); err != nil {
		t.Fatal(err) // a release directory without its binary
	}
	writeTool(t, filepath.Join(binDir, "terraform", "1.5.7", "terraform"), workflows.Terraform, "1.5.7")
	def := Tool{Distribution: workflows.OpenTofu, Path: filepath.Join(t.TempDir(), "tofu")}
	writeTool(t, def.Path, workflows.OpenTofu, "1.10.5")
	tools := newTestTools(ToolsConfig{Default: def, BinDir: binDir})

	tests := []struct {
		name, constraint string
		distribution     workflows.Distribution
		want             string // "default", or a path under binDir
		wantErr          string
	}{
		{name: "no constraint", distribution: workflows.OpenTofu, want: "default"},
		{name: "no distribution", want: "default"},
		{name: "highest installed", distribution: workflows.OpenTofu, constraint: ">= 1.6", want: "tofu/1.11.2/tofu"},
		{name: "default over lower installed", distribution: workflows.OpenTofu, constraint: ">= 1.6, < 1.11", want: "default"},
		{name: "installed over lower installed", distribution: workflows.OpenTofu, constraint: "< 1.10", want: "tofu/1.9.0/tofu"},
		{name: "exact", distribution: workflows.OpenTofu, constraint: " 1.6.2 ", want: "tofu/1.6.2/tofu"},
		{name: "pessimistic", distribution: workflows.OpenTofu, constraint: "~> 1.9.0", want: "tofu/1.9.0/tofu"},
		{name: "pre-release named", distribution: workflows.OpenTofu, constraint: "= 1.12.0-beta1", want: "tofu/1.12.0-beta1/tofu"},
		{name: "terraform", distribution: workflows.Terraform, constraint: "~> 1.5", want: "terraform/1.5.7/terraform"},
		{name: "terraform, no constraint", distribution: workflows.Terraform, want: "terraform/1.5.7/terraform"},
		{
			name: "unsatisfiable", distribution: workflows.OpenTofu, constraint: ">= 1.13",
			wantErr: `OpenTofu satisfying ">= 1.13" is not installed (installed: 1.6.2, 1.9.0, 1.10.5, 1.11.2, 1.12.0-beta1), and downloading releases is off (--tf-download)`,
		},
		{
			name: "pre-release by range", distribution: workflows.OpenTofu, constraint: ">= 1.12.0-beta1",
			wantErr: `OpenTofu satisfying ">= 1.12.0-beta1" is not installed`,
		},
		{
			name: "terraform not installed", distribution: workflows.Terraform, constraint: "1.11.4",
			wantErr: `Terraform satisfying "1.11.4" is not installed (installed: 1.5.7)`,
		},
		{name: "bad constraint", distribution: workflows.OpenTofu, constraint: "not a version", wantErr: `invalid OpenTofu version constraint "not a version"`},
		{name: "unknown distribution", distribution: "pulumi", wantErr: `unknown tool distribution "pulumi"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tools.Resolve(t.Context(), tt.distribution, tt.constraint)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrToolVersion) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve = %v, %v; want an ErrToolVersion containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := def
			if tt.want != "default" {
				want = Tool{Distribution: tt.distribution, Path: filepath.Join(binDir, tt.want)}
			}
			if got != want {
				t.Errorf("Resolve = %+v, want %+v", got, want)
			}
		})
	}
}

func TestResolveDownloads(t *testing.T) {
	t.Parallel()
	rel := newFakeReleases(t, workflows.OpenTofu, "1.9.1", "1.10.7", "1.10.8", "1.11.0-beta1")
	rel.remove(rel.zipPath("1.10.8")) // no build for this platform
	binDir := t.TempDir()
	writeTool(t, filepath.Join(binDir, "tofu", "1.9.0", "tofu"), workflows.OpenTofu, "1.9.0")
	tools := newTestTools(ToolsConfig{BinDir: binDir, Download: true, DownloadURL: map[workflows.Distribution]string{workflows.OpenTofu: rel.url}})
	ctx := t.Context()

	got, err := tools.Resolve(ctx, workflows.OpenTofu, ">= 1.10")
	if err != nil {
		t.Fatal(err)
	}
	want := Tool{Distribution: workflows.OpenTofu, Path: filepath.Join(binDir, "tofu", "1.10.7", "tofu")}
	if got != want {
		t.Fatalf("Resolve = %+v, want %+v", got, want)
	}
	assertRuns(t, tools, got, "OpenTofu v1.10.7")
	for _, c := range []string{">= 1.10", "1.10.7"} {
		if again, err := tools.Resolve(ctx, workflows.OpenTofu, c); err != nil || again != want {
			t.Errorf("Resolve(%q) after download = %+v, %v; want %+v", c, again, err, want)
		}
	}
	if n := rel.gets(rel.zipPath("1.10.7")); n != 1 {
		t.Errorf("1.10.7 downloaded %d times, want once", n)
	}

	if got, err := tools.Resolve(ctx, workflows.OpenTofu, "~> 1.9.0"); err != nil || got.Path != filepath.Join(binDir, "tofu", "1.9.0", "tofu") {
		t.Errorf("Resolve(~> 1.9.0) = %+v, %v; want the installed 1.9.0", got, err)
	}
	if n := rel.gets(rel.zipPath("1.9.1")); n != 0 {
		t.Errorf("1.9.1 downloaded %d times though 1.9.0 satisfies", n)
	}

	beta, err := tools.Resolve(ctx, workflows.OpenTofu, "1.11.0-beta1")
	if err != nil {
		t.Fatal(err)
	}
	assertRuns(t, tools, beta, "OpenTofu v1.11.0-beta1")

	_, err = tools.Resolve(ctx, workflows.OpenTofu, ">= 2")
	wantErr := fmt.Sprintf(`no OpenTofu release for %s/%s satisfying ">= 2" (installed: 1.9.0, 1.10.7, 1.11.0-beta1; latest release: 1.10.7)`, runtime.GOOS, runtime.GOARCH)
	if !errors.Is(err, ErrToolVersion) || err.Error() != wantErr {
		t.Errorf("Resolve(>= 2) error = %v, want an ErrToolVersion %q", err, wantErr)
	}
	assertNoScratch(t, filepath.Join(binDir, "tofu"))
}

func TestResolveDownloadsOnce(t *testing.T) {
	t.Parallel()
	rel := newFakeReleases(t, workflows.OpenTofu, "1.10.6", "1.10.7")
	tools := newTestTools(ToolsConfig{BinDir: t.TempDir(), Download: true, DownloadURL: map[workflows.Distribution]string{workflows.OpenTofu: rel.url}})
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		paths = map[string]int{}
	)
	for range 8 {
		wg.Go(func() {
			got, err := tools.Resolve(t.Context(), workflows.OpenTofu, "~> 1.10.0")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			paths[got.Path]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(paths) != 1 {
		t.Errorf("concurrent Resolves returned %v, want one path", paths)
	}
	if n := rel.gets(rel.zipPath("1.10.7")); n != 1 {
		t.Errorf("1.10.7 downloaded %d times, want once", n)
	}
}

func TestResolveRefusesBadReleases(t *testing.T) {
	t.Parallel()
	const v = "1.10.7"
	good := releaseZip(t, workflows.OpenTofu, v) // what newFakeReleases serves
	zipName := "tofu_1.10.7_" + runtime.GOOS + "_" + runtime.GOARCH + ".zip"
	tests := []struct {
		name string
		zip  []byte // served instead of the release's zip when set
		// signed: the release's SHA256SUMS lists zip's checksum.
		signed bool
		sums   string // served as the release's SHA256SUMS when set
		// wantErr is in the error, which is an ErrToolVersion when userly.
		wantErr string
		userly  bool
	}{
		{
			name:    "tampered zip",
			zip:     zipOf(t, "tofu", "#!/bin/sh\necho pwned\n"),
			wantErr: "checksum mismatch for " + zipName + ": tofu_1.10.7_SHA256SUMS lists " + sha256Hex(good) + ", the download has ",
			userly:  true,
		},
		{
			name:    "no checksum for the zip",
			sums:    sha256Hex(good) + "  tofu_1.10.7_plan9_386.zip\n",
			wantErr: "tofu_1.10.7_SHA256SUMS has no checksum for " + zipName,
			userly:  true,
		},
		{
			name:    "path traversal",
			zip:     zipOf(t, "LICENSE", "MPL-2.0", "../tofu", "#!/bin/sh\n"),
			signed:  true,
			wantErr: `holds a path outside itself ("../tofu")`,
			userly:  true,
		},
		{
			name:    "no binary",
			zip:     zipOf(t, "LICENSE", "MPL-2.0", "bin/tofu", "#!/bin/sh\n"),
			signed:  true,
			wantErr: "no tofu in the archive",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rel := newFakeReleases(t, workflows.OpenTofu, v)
			if tt.zip != nil {
				rel.put(rel.zipPath(v), tt.zip)
			}
			if tt.signed {
				tt.sums = sha256Hex(tt.zip) + "  " + zipName + "\n"
			}
			if tt.sums != "" {
				rel.put(rel.sumsPath(v), []byte(tt.sums))
			}
			binDir := t.TempDir()
			tools := newTestTools(ToolsConfig{BinDir: binDir, Download: true, DownloadURL: map[workflows.Distribution]string{workflows.OpenTofu: rel.url}})

			got, err := tools.Resolve(t.Context(), workflows.OpenTofu, v)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.Is(err, ErrToolVersion) != tt.userly {
				t.Fatalf("Resolve = %+v, %v; want an error containing %q (ErrToolVersion: %t)", got, err, tt.wantErr, tt.userly)
			}
			if entries, _ := os.ReadDir(filepath.Join(binDir, "tofu")); len(entries) != 0 {
				t.Errorf("a refused release left %v in the bin directory", entries)
			}
		})
	}
}

func TestResolveTerraformLayout(t *testing.T) {
	t.Parallel()
	rel := newFakeReleases(t, workflows.Terraform, "1.11.3", "1.11.4", "1.12.0", "1.13.0-rc1")
	binDir := t.TempDir()
	def := Tool{Distribution: workflows.OpenTofu, Path: filepath.Join(t.TempDir(), "tofu")}
	writeTool(t, def.Path, workflows.OpenTofu, "1.10.7")
	tools := newTestTools(ToolsConfig{Default: def, BinDir: binDir, Download: true, DownloadURL: map[workflows.Distribution]string{workflows.Terraform: rel.url + "/"}})

	for _, tt := range []struct{ constraint, want string }{
		{"", "1.12.0"}, // the latest stable release, none being installed
		{"~> 1.11.0", "1.11.4"},
		{"1.13.0-rc1", "1.13.0-rc1"},
		{"", "1.12.0"}, // the highest installed, the rc aside
	} {
		got, err := tools.Resolve(t.Context(), workflows.Terraform, tt.constraint)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", tt.constraint, err)
		}
		want := Tool{Distribution: workflows.Terraform, Path: filepath.Join(binDir, "terraform", tt.want, "terraform")}
		if got != want {
			t.Errorf("Resolve(%q) = %+v, want %+v", tt.constraint, got, want)
		}
		assertRuns(t, tools, got, "Terraform v"+tt.want)
	}
	if got, err := tools.Resolve(t.Context(), workflows.OpenTofu, ""); err != nil || got != def {
		t.Errorf("Resolve(opentofu, \"\") = %+v, %v; want the default %+v", got, err, def)
	}
}

func TestSatisfies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		constraint, version string
		want                bool
	}{
		{"", "1.10.7", true},
		{"", "1.11.0-beta1", false},
		{">= 1.6, < 1.11", "1.10.7", true},
		{">= 1.6, < 1.11", "1.11.0", false},
		{">= 1.6", "1.11.0-rc1", false},
		{">= 1.11.0-rc1", "1.11.0-rc2", false},
		{"!= 1.10.0", "1.11.0-alpha1", false},
		{"1.11.0-rc1", "1.11.0-rc1", true},
		{"= 1.11.0-rc1", "1.11.0-rc1", true},
		{">= 1.6, = 1.11.0-rc1", "1.11.0-rc1", false}, // >= 1.6 admits no pre-release
		{"1.10.7-dev", "1.10.7-dev", true},
	}
	for _, tt := range tests {
		var cs version.Constraints
		if tt.constraint != "" {
			cs = version.MustConstraints(version.NewConstraint(tt.constraint))
		}
		if got := satisfies(cs, version.Must(version.NewVersion(tt.version))); got != tt.want {
			t.Errorf("satisfies(%q, %s) = %t, want %t", tt.constraint, tt.version, got, tt.want)
		}
	}
}

func TestParseToolVersion(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"OpenTofu v1.10.7":     "1.10.7",
		"OpenTofu v1.10.7-dev": "1.10.7-dev",
		"Terraform v1.11.4":    "1.11.4",
	} {
		v, err := parseToolVersion(in)
		if err != nil || v.Original() != want {
			t.Errorf("parseToolVersion(%q) = %v, %v; want %s", in, v, err, want)
		}
	}
	if _, err := parseToolVersion("tofu"); err == nil {
		t.Error("parseToolVersion(tofu) succeeded")
	}
}

func TestResolveSearchesPath(t *testing.T) {
	t.Parallel()
	first, second := t.TempDir(), t.TempDir()
	def := Tool{Distribution: workflows.OpenTofu, Path: filepath.Join(first, "tofu")}
	writeTool(t, def.Path, workflows.OpenTofu, "1.8.0")
	writeTool(t, filepath.Join(second, "tofu"), workflows.OpenTofu, "1.7.1") // shadowed on PATH, still found
	writeTool(t, filepath.Join(second, "tofu1.6.2"), workflows.OpenTofu, "1.6.2")
	writeTool(t, filepath.Join(second, "tofu-1.5.0"), workflows.Terraform, "1.5.0") // says it is Terraform
	if err := os.WriteFile(filepath.Join(second, "tofu-ls"), []byte("#!/bin/sh\necho 'OpenTofu v1.4.0'\n"), 0o755); err != nil {
		t.Fatal(err) // another program, whatever it prints
	}
	if err := os.Symlink(filepath.Join(second, "tofu1.6.2"), filepath.Join(first, "tofu-1.6.2")); err != nil {
		t.Fatal(err)
	}
	tools := newTestTools(ToolsConfig{Default: def, SearchPath: strings.Join([]string{first, "relative/bin", second}, string(os.PathListSeparator))})
	tests := []struct {
		constraint, want, wantErr string
	}{
		{constraint: ">= 1.6", want: def.Path},
		{constraint: "~> 1.7.0", want: filepath.Join(second, "tofu")},
		{constraint: "1.6.2", want: filepath.Join(first, "tofu-1.6.2")},
		{constraint: "1.5.0", wantErr: "(installed: 1.6.2, 1.7.1, 1.8.0)"},
		{constraint: "1.4.0", wantErr: "(installed: 1.6.2, 1.7.1, 1.8.0)"},
	}
	for _, tt := range tests {
		got, err := tools.Resolve(t.Context(), workflows.OpenTofu, tt.constraint)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Resolve(%q) = %v, %v; want an error containing %q", tt.constraint, got, err, tt.wantErr)
			}
		case err != nil || got.Path != tt.want:
			t.Errorf("Resolve(%q) = %v, %v; want %s", tt.constraint, got, err, tt.want)
		}
	}
}

func newTestTools(cfg ToolsConfig) *Tools {
	cfg.Runner = New(Config{Tool: cfg.Default, Env: os.Environ()})
	return NewTools(cfg)
}

// toolScript is a stand-in for tofu or terraform that knows only `version`.
func toolScript(distribution workflows.Distribution, v string) string {
	name := map[workflows.Distribution]string{workflows.OpenTofu: "OpenTofu", workflows.Terraform: "Terraform"}[distribution]
	return fmt.Sprintf("#!/bin/sh\necho '%s v%s'\necho 'on %s_%s'\n", name, v, runtime.GOOS, runtime.GOARCH)
}

func writeTool(t *testing.T, path string, distribution workflows.Distribution, v string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(toolScript(distribution, v)), 0o755); err != nil {
		t.Fatal(err)
	}
}

func assertRuns(t *testing.T, tools *Tools, tool Tool, want string) {
	t.Helper()
	fi, err := os.Stat(tool.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("%s has mode %v, want 0755", tool.Path, fi.Mode().Perm())
	}
	if got, err := tools.cfg.Runner.Version(t.Context(), tool); err != nil || got != want {
		t.Errorf("Version(%s) = %q, %v; want %q", tool.Path, got, err, want)
	}
}

// assertNoScratch fails if a download left anything behind in dir.
func assertNoScratch(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("download scratch %s left in %s", e.Name(), dir)
		}
	}
}

// zipOf builds a zip of name, content pairs.
func zipOf(t *testing.T, namesAndContents ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < len(namesAndContents); i += 2 {
		h := &zip.FileHeader{Name: namesAndContents[i], Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(namesAndContents[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// releaseZip is a release zip as the publisher builds it: the binary, and
// papers beside it.
func releaseZip(t *testing.T, distribution workflows.Distribution, v string) []byte {
	t.Helper()
	pub, _ := publisherOf(distribution)
	return zipOf(t, "LICENSE", "MPL-2.0", "README.md", "# "+pub.name, pub.binary, toolScript(distribution, v))
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// fakeReleases serves a distribution's releases over HTTP as its publisher
// lays them out, and counts the requests for each file.
type fakeReleases struct {
	url      string
	pub      publisher
	versions []string

	mu    sync.Mutex
	files map[string][]byte // by URL path
	count map[string]int    // requests by URL path
}

// newFakeReleases serves versions of distribution, each with a zip for
// this platform and its SHA256SUMS.
func newFakeReleases(t *testing.T, distribution workflows.Distribution, versions ...string) *fakeReleases {
	t.Helper()
	pub, _ := publisherOf(distribution)
	f := &fakeReleases{pub: pub, versions: versions, files: map[string][]byte{}, count: map[string]int{}}
	for _, v := range versions {
		z := releaseZip(t, distribution, v)
		f.files[f.zipPath(v)] = z
		f.files[f.sumsPath(v)] = fmt.Appendf(nil, "%s  %s_%s_freebsd_arm.zip\n%s  %s\n",
			sha256Hex([]byte("other")), pub.binary, v, sha256Hex(z), pub.zipName(v))
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeReleases) dir(v string) string      { return "/" + f.pub.dirPrefix + v + "/" }
func (f *fakeReleases) zipPath(v string) string  { return f.dir(v) + f.pub.zipName(v) }
func (f *fakeReleases) sumsPath(v string) string { return f.dir(v) + f.pub.sumsName(v) }

func (f *fakeReleases) put(path string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[path] = body
}

func (f *fakeReleases) remove(path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.files, path)
}

func (f *fakeReleases) gets(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count[path]
}

func (f *fakeReleases) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count[r.URL.Path]++
	if r.URL.Path == "/"+f.pub.index {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(f.listing())
		return
	}
	body, ok := f.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write(body)
}

// listing is the publisher's index of releases: OpenTofu's api.json or
// HashiCorp's index.json. f.mu is held.
func (f *fakeReleases) listing() any {
	filesOf := func(v string) []string {
		var names []string
		for p := range f.files {
			if name, ok := strings.CutPrefix(p, f.dir(v)); ok {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		return names
	}
	if f.pub.binary == "tofu" {
		type entry struct {
			ID    string   `json:"id"`
			Files []string `json:"files"`
		}
		var vs []entry
		for _, v := range f.versions {
			vs = append(vs, entry{v, filesOf(v)})
		}
		return map[string]any{"versions": vs}
	}
	versions := map[string]any{}
	for _, v := range f.versions {
		var builds []map[string]string
		for _, name := range filesOf(v) {
			if strings.HasSuffix(name, ".zip") {
				builds = append(builds, map[string]string{
					"name": "terraform", "version": v, "os": runtime.GOOS, "arch": runtime.GOARCH,
					"filename": name, "url": f.url + f.dir(v) + name,
				})
			}
		}
		versions[v] = map[string]any{"name": "terraform", "version": v, "shasums": f.pub.sumsName(v), "builds": builds}
	}
	return map[string]any{"name": "terraform", "versions": versions}
}

func TestNoDowngrade(t *testing.T) {
	t.Parallel()
	req := func(u string) *http.Request {
		r, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	from := []*http.Request{req("https://get.opentofu.org/tofu/api.json")}
	if err := noDowngrade(req("https://objects.example.com/tofu.zip"), from); err != nil {
		t.Errorf("https to https: %v", err)
	}
	if err := noDowngrade(req("http://objects.example.com/tofu.zip"), from); err == nil {
		t.Error("https to http was followed")
	}
	if err := noDowngrade(req("http://127.0.0.1:8080/b"), []*http.Request{req("http://127.0.0.1:8080/a")}); err != nil {
		t.Errorf("http to http on a local mirror: %v", err)
	}
}
