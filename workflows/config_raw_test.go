package workflows

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Anchors and aliases are YAML, and a config may use them, but not to
// expand into more than a file of the size atoll reads could spell.
func TestConfigAliases(t *testing.T) {
	t.Parallel()
	// laughs nests lists of ten aliases to the level above, nine deep:
	// 10^9 values from a few hundred bytes.
	laughs := "version: 3\nprojects:\n- dir: d0\n  depends_on: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i <= 9; i++ {
		ten := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", ")
		laughs += fmt.Sprintf("- dir: d%d\n  depends_on: &l%d [%s]\n", i, i, ten)
	}
	tests := []struct {
		name, yaml string
		want       string // "" for a config that reads
	}{
		{"shared globs", "version: 3\nprojects:\n- dir: a\n  autoplan:\n    when_modified: &globs ['*.tf', '../modules/**']\n- dir: b\n  autoplan:\n    when_modified: *globs\n", ""},
		{"a shared list of names", "version: 3\nprojects:\n- {name: a, dir: a}\n- {name: b, dir: b, depends_on: &deps [a]}\n- {dir: c, depends_on: *deps}\n", ""},
		{"billion laughs", laughs, "once its aliases are expanded"},
		{"an alias inside its own value", "version: 3\nprojects:\n- dir: a\n  depends_on: &self [x, *self]\n", "atlantis.yaml:4: alias *self is inside the value it stands for"},
	}
	for _, tt := range tests {
		var err error
		within(t, 10*time.Second, func() { _, err = ParseConfig("atlantis.yaml", []byte(tt.yaml)) })
		switch ce := (*ConfigError)(nil); {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (!errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v; want a config error saying %q", tt.name, err, tt.want)
		}
	}
}

// yamlBomb is a config whose first project anchors a list of 98 names
// that each of the next refs projects refers to: few bytes, each nested
// decoder seeing one alias, but refs×98 values in all.
func yamlBomb(refs int) []byte {
	var b bytes.Buffer
	b.WriteString("version: 3\nprojects:\n- dir: d0\n  depends_on: &names [")
	for i := range 98 {
		fmt.Fprintf(&b, "p%d, ", i)
	}
	b.WriteString("p98]\n")
	for i := 1; i <= refs; i++ {
		fmt.Fprintf(&b, "- dir: d%d\n  depends_on: *names\n", i)
	}
	return b.Bytes()
}

// TestAliasBombIsRefused is not parallel: it measures what the process
// allocates while it runs.
func TestAliasBombIsRefused(t *testing.T) {
	bomb := yamlBomb(30000)
	if len(bomb) > maxRepoConfig {
		t.Fatalf("the bomb is %d bytes, past the cap of %d: it tests nothing", len(bomb), maxRepoConfig)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var err error
	within(t, 10*time.Second, func() { _, err = ParseConfig("atlantis.yaml", bomb) })
	runtime.ReadMemStats(&after)
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "aliases") {
		t.Errorf("ParseConfig = %v; want a config error about aliases", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("refusing a %d-byte config allocated %d MB", len(bomb), alloc>>20)
	} else {
		t.Logf("refusing a %d-byte config allocated %.1f MB", len(bomb), float64(alloc)/(1<<20))
	}
}
