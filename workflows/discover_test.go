package workflows

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/discover/*.txtar")

// TestDiscoverGolden runs each testdata/discover/*.txtar case: its files
// are a repository (config included), its "changed" section the files a
// pull request changes (ALL: every project, as a run on a branch plans),
// and its "want" section the projects planned, in order, with why, or the
// config error.
func TestDiscoverGolden(t *testing.T) {
	t.Parallel()
	cases, err := filepath.Glob("testdata/discover/*.txtar")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, file := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			t.Parallel()
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			repo := t.TempDir()
			var changed []string
			wantAt := -1
			for i, f := range ar.Files {
				switch f.Name {
				case "changed":
					changed = strings.Fields(string(f.Data))
				case "want":
					wantAt = i
				default:
					p := filepath.Join(repo, filepath.FromSlash(f.Name))
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			got := discoverReport(repo, changed)
			if *update {
				if wantAt < 0 {
					ar.Files = append(ar.Files, txtar.File{Name: "want"})
					wantAt = len(ar.Files) - 1
				}
				ar.Files[wantAt].Data = []byte(got)
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if wantAt < 0 {
				t.Fatalf("%s has no want section; run go test ./workflows -run TestDiscoverGolden -update", file)
			}
			if want := string(ar.Files[wantAt].Data); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// discoverReport loads the config and discovers, as text.
func discoverReport(repo string, changed []string) string {
	cfg, err := LoadConfig(repo)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	matches, err := Select(cfg, repo, changed)
	if slices.Equal(changed, []string{"ALL"}) {
		matches, err = All(cfg.ForBranch("main"), repo) // as on the default branch
	}
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	report, err := Report(cfg, repo, matches)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	return report
}

// TestDiscoverSkipsNamesNotUTF8: a directory whose name is not UTF-8
// (git lists paths as bytes) is not planned, whether its own files
// changed or a module it uses did: no comment, status or lock could name
// it; -d cannot name it either.
func TestDiscoverSkipsNamesNotUTF8(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	files := map[string]string{
		"ok/main.tf":       "module \"net\" {\n  source = \"../mods/net\"\n}\n",
		"a\xffb/main.tf":   "module \"net\" {\n  source = \"../mods/net\"\n}\n",
		"mods/net/main.tf": "locals {}\n",
	}
	for name, body := range files {
		if err := os.MkdirAll(filepath.Join(repo, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, changed := range [][]string{{"a\xffb/main.tf", "ok/main.tf"}, {"mods/net/main.tf"}} {
		matches, err := Select(RepoConfig{}, repo, changed)
		if err != nil {
			t.Fatal(err)
		}
		if len(matches) != 1 || matches[0].Dir != "ok" {
			t.Errorf("changed %q: matches = %+v, want ok alone", changed, matches)
		}
	}
	all, err := All(RepoConfig{}, repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if !utf8.ValidString(m.Dir) {
			t.Errorf("All planned %q", m.Dir)
		}
	}
	if _, err := CleanDir("a\xffb"); err == nil {
		t.Error("CleanDir took a name that is not UTF-8")
	}
}
