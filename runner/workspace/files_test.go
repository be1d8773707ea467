package workspace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The lock file atoll keeps with a plan is read from the checkout, where
// the pull request may have put a link to a device that never ends, or a
// directory that leads out of the checkout: neither is read.
func TestReadFileRefusesWhatLeadsOut(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "lock.hcl"), []byte("do not read"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := &Workspace{Name: "default", Dir: t.TempDir(), root: t.TempDir(), done: func() {}}
	for link, target := range map[string]string{"zero.hcl": "/dev/zero", "out": outside} {
		if err := os.Symlink(target, filepath.Join(w.Dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(w.Dir, "big.hcl"), make([]byte, 2<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		wantErr string // "" for no error, and no content
	}{
		{"zero.hcl", ""},
		{"out/lock.hcl", "escapes"},
		{"big.hcl", "big.hcl: is larger than 1 KiB"},
	}
	for _, tt := range tests {
		done := make(chan struct{})
		var got []byte
		var err error
		go func() {
			defer close(done)
			got, err = w.ReadFile(tt.name, 1<<10)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadFile(%s) still reading after 10s", tt.name)
		}
		if got != nil || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ReadFile(%s) = %q, %v; want nothing and an error saying %q", tt.name, got, err, tt.wantErr)
		}
	}
}
