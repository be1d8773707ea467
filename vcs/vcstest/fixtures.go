package vcstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// fixture decodes an example payload, with the example repository's URLs
// rewritten to the fake's repository fullName.
func (g *GitHub) fixture(t T, name, fullName string) map[string]any {
	t.Helper()
	doc, err := g.fixtureDoc(name, fullName)
	if err != nil {
		t.Fatalf("fake github: %v", err)
	}
	return doc
}

func (g *GitHub) fixtureDoc(name, fullName string) (map[string]any, error) {
	raw, ok := g.fixtures[name]
	if !ok {
		var have []string
		for n := range g.fixtures {
			have = append(have, n)
		}
		slices.Sort(have)
		return nil, fmt.Errorf("no example payload %s; have %s", name, strings.Join(have, ", "))
	}
	rewrite := strings.NewReplacer(
		"https://api.github.com/repos/Codertocat/Hello-World", g.APIURL()+"repos/"+fullName,
		"https://github.com/Codertocat/Hello-World", g.url+"/"+fullName,
		"https://api.github.com/", g.APIURL(),
		"https://github.com/", g.url+"/",
	)
	var doc map[string]any
	if err := json.Unmarshal([]byte(rewrite.Replace(string(raw))), &doc); err != nil {
		return nil, fmt.Errorf("example payload %s: %w", name, err)
	}
	return doc, nil
}

// loadFixtures reads GitHub's example payloads from the module's
// testdata/github.
func loadFixtures(t T) map[string][]byte {
	t.Helper()
	return loadExamples(t, "github")
}

// loadExamples reads the example payloads of forge (github, gitlab) by
// file name, from the module's testdata/FORGE, found beside this source
// file or, failing that (a -trimpath build), above the working directory.
func loadExamples(t T, forge string) map[string][]byte {
	t.Helper()
	dir, err := fixtureDir(forge)
	if err != nil {
		t.Fatalf("fake %s: %v", forge, err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("fake %s: no example payloads in %s", forge, dir)
	}
	fixtures := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("fake %s: %v", forge, err)
		}
		fixtures[filepath.Base(p)] = b
	}
	return fixtures
}

func fixtureDir(forge string) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		dir := filepath.Join(filepath.Dir(file), "..", "..", "testdata", forge)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return dir, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", forge), nil
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("no go.mod above " + wd + " to find testdata/" + forge)
		}
	}
}
