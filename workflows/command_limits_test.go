package workflows

import (
	"strings"
	"testing"
)

// TestParseCommentRefusesOverlongNames: a name too long for any checkout
// is refused in a few words, however long, and quoted shortened.
func TestParseCommentRefusesOverlongNames(t *testing.T) {
	t.Parallel()
	// path is a directory n bytes long, of names 100 bytes long.
	path := func(n int) string {
		return strings.TrimSuffix(strings.Repeat(strings.Repeat("a", 99)+"/", n/100+1)[:n], "/")
	}
	tests := []struct {
		name, body string
		// wantErr is in the error; "" for a command read.
		wantErr string
	}{
		{"a directory of 60,000 bytes", "atoll plan -d " + strings.Repeat("a", 60_000), "`plan -d`: the directory `aaaa"},
		{"a directory of a megabyte", "atoll plan -d " + strings.Repeat("a/", 512<<10), "is 1048576 bytes long; atoll takes at most 1024"},
		{"a directory as long as it may be", "atoll plan -d " + path(maxDirLen), ""},
		{"a directory a byte too long", "atoll apply -d " + path(maxDirLen+1), "`apply -d`: the directory"},
		{"a name between slashes too long", "atoll plan -d a/" + strings.Repeat("b", 256), "has a name of 256 bytes between slashes; atoll takes at most 255"},
		{"a name between slashes as long as it may be", "atoll plan -d a/" + strings.Repeat("b", 255), ""},
		{"a workspace of 60,000 bytes", "atoll plan -w " + strings.Repeat("w", 60_000), "`plan -w`: the workspace `wwww"},
		{"a workspace past its own rule", "atoll plan -w " + strings.Repeat("w", 200), "at most 90 characters"},
		{"a project name of 60,000 bytes", "atoll apply -p " + strings.Repeat("p", 60_000), "`apply -p`: the project name `pppp"},
		{"a tool argument of a megabyte", "atoll plan -- -target=" + strings.Repeat("x", 1<<20), "is 1048584 bytes long; atoll takes at most 4096"},
		{"an unknown flag of a megabyte", "atoll plan -" + strings.Repeat("x", 1<<20), "flag provided but not defined"},
		{"an unknown command of a megabyte", "atoll " + strings.Repeat("x", 1<<20), "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, isCmd, err := ParseComment(tt.body, []string{"-target="})
			switch {
			case !isCmd:
				t.Fatal("not read as a command")
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr == "":
				return
			case err == nil || !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %.300q, want it to contain %q", err, tt.wantErr)
			}
			// Short enough to read; the workspace rule quotes what it
			// refuses, bounded by maxNameLen.
			if n := len(err.Error()); n > 200+maxNameLen {
				t.Errorf("error of %d bytes: %.300q…", n, err)
			}
		})
	}
}
