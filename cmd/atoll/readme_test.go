package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// The README is what a newcomer reads first: it stays short enough to
// read whole (the rest is in docs/), and it points nowhere outside the
// repository, which they may have cloned to read offline.
func TestReadmeStaysShortAndHome(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= 9000 {
		t.Errorf("README.md is %d bytes: keep it under 9,000 and move the rest into docs/", len(b))
	}
	for _, u := range regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^\s)>\]]+`).FindAll(b, -1) {
		t.Errorf("README.md points outside the repository: %s", u)
	}
}
