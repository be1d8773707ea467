package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The flag tables of docs/server.md are made here from the flags each
// subcommand defines; the test fails when the page says otherwise, and
// -update rewrites the tables in place.

var update = flag.Bool("update", false, "rewrite what tests compare with: the flag tables of docs/server.md, golden files under testdata/")

// serverDoc is the page, from this package's directory.
var serverDoc = filepath.Join("..", "..", "docs", "server.md")

// documented are the subcommands the page has a flag table for. Each
// table sits between <!-- flags:NAME begin --> and <!-- flags:NAME end -->.
var documented = []string{"server", "ci", "forward", "projects", "testdrive"}

// machineDefaults are the defaults that depend on the machine the flags
// are defined on, as the page says them, with what they are here.
var machineDefaults = map[string]struct{ page, here string }{
	"parallelism": {"CPU count", strconv.Itoa(runtime.NumCPU())},
}

// commandFlags returns the flags subcommand name parses, defined as the
// subcommand defines them. ci and projects define some of theirs inline:
// those are read back from what `atoll NAME -h` prints (see helpFlags).
func commandFlags(t testing.TB, name string) *flag.FlagSet {
	t.Helper()
	fs := flag.NewFlagSet("atoll "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	switch name {
	case "server":
		(&serverFlags{}).define(fs)
	case "forward":
		(&forwardFlags{}).define(fs)
	case "testdrive":
		(&testdriveFlags{}).define(fs)
	case "ci":
		(&serverFlags{}).define(fs)
		helpFlags(t, fs, name)
	case "projects":
		helpFlags(t, fs, name)
	default:
		t.Fatalf("no flags known for atoll %s", name)
	}
	return fs
}

// helpFlags defines on fs the flags that `atoll name -h` lists and fs
// lacks, with their usage and default. The help does not say a flag's
// type: one whose default is true or false is a bool, any other a string,
// and a default that looks like a number or a duration stops the test,
// so that such a flag gets its type here.
func helpFlags(t testing.TB, fs *flag.FlagSet, name string) {
	t.Helper()
	var stdout bytes.Buffer
	run([]string{name, "-h"}, nil, &stdout, io.Discard)
	found := false
	for _, h := range readHelp(stdout.String()) {
		found = true
		if fs.Lookup(h.name) != nil {
			continue
		}
		_, intErr := strconv.Atoi(h.def)
		_, durErr := time.ParseDuration(h.def)
		switch {
		case h.def == "true" || h.def == "false":
			fs.Bool(h.name, h.def == "true", h.usage)
		case intErr == nil || durErr == nil:
			t.Fatalf("atoll %s --%s (default %s) may be a number or a duration: define it in commandFlags", name, h.name, h.def)
		default:
			fs.String(h.name, h.def, h.usage)
		}
	}
	if !found {
		t.Fatalf("atoll %s -h lists no flags:\n%s", name, stdout.String())
	}
}

// helpFlag is a flag as printFlags prints it.
type helpFlag struct{ name, usage, def string }

// readHelp reads back the flags printFlags printed.
func readHelp(help string) []helpFlag {
	var flags []helpFlag
	for _, line := range strings.Split(help, "\n") {
		rest, ok := strings.CutPrefix(line, "  --")
		if !ok {
			continue
		}
		name, usage, _ := strings.Cut(rest, " ")
		h := helpFlag{name: name, usage: strings.TrimLeft(usage, " ")}
		if i := strings.LastIndex(h.usage, " (default "); i >= 0 && strings.HasSuffix(h.usage, ")") {
			h.usage, h.def = h.usage[:i], h.usage[i+len(" (default "):len(h.usage)-1]
		}
		flags = append(flags, h)
	}
	return flags
}

// tableFlags are the flags of subcommand name its table lists: for ci,
// those it adds to server's, which the page says it takes too.
func tableFlags(t testing.TB, name string) []*flag.Flag {
	t.Helper()
	fs := commandFlags(t, name)
	var server *flag.FlagSet
	if name == "ci" {
		server = commandFlags(t, "server")
		server.VisitAll(func(f *flag.Flag) {
			if fs.Lookup(f.Name) == nil {
				t.Errorf("atoll ci lacks --%s, but the page says it takes every server flag", f.Name)
			}
		})
	}
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if server == nil || server.Lookup(f.Name) == nil {
			flags = append(flags, f)
		}
	})
	return flags
}

// flagTable is the markdown table of flags: flag, environment variable,
// default as the user sees it, meaning.
func flagTable(t testing.TB, flags []*flag.Flag) string {
	var b strings.Builder
	b.WriteString("| flag | environment variable | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, f := range flags {
		meaning, def := splitUsage(f.Usage)
		def = markdown(def)
		if md, ok := machineDefaults[f.Name]; ok {
			if f.DefValue != md.here {
				t.Errorf("--%s defaults to %q, not %q: update machineDefaults", f.Name, f.DefValue, md.here)
			}
			def = md.page
		} else if f.DefValue != "" {
			checkPortable(t, f)
			def = strings.TrimSpace("`" + f.DefValue + "` " + parenthesize(def))
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", f.Name, envName(f.Name), def, markdown(meaning))
	}
	return b.String()
}

// parenthesize is s in parentheses, or "" for "".
func parenthesize(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

// splitUsage splits a usage into its meaning and what it says of the
// default: a last "(default: X)" gives X, a last "(required…)" itself.
func splitUsage(usage string) (meaning, def string) {
	i := strings.LastIndex(usage, " (")
	if i < 0 || !strings.HasSuffix(usage, ")") {
		return usage, ""
	}
	paren := usage[i+2 : len(usage)-1]
	if d, ok := strings.CutPrefix(paren, "default: "); ok {
		return usage[:i], d
	}
	if strings.HasPrefix(paren, "required") {
		return usage[:i], paren
	}
	return usage, ""
}

// checkPortable fails when f's default holds something of this machine
// that machineDefaults does not know of.
func checkPortable(t testing.TB, f *flag.Flag) {
	home, _ := os.UserHomeDir()
	wd, _ := os.Getwd()
	for _, dir := range []string{home, wd, os.TempDir()} {
		if len(dir) > 1 && strings.HasPrefix(f.DefValue, dir) {
			t.Errorf("--%s defaults to %q, a path of this machine: say it in machineDefaults", f.Name, f.DefValue)
		}
	}
	if host, _ := os.Hostname(); f.DefValue == host {
		t.Errorf("--%s defaults to this machine's name: say it in machineDefaults", f.Name)
	}
}

// markdown is usage text as a table cell, its flags, tool arguments and
// globs as code.
func markdown(s string) string {
	words := strings.Split(s, " ")
	for i, w := range words {
		core := strings.TrimLeft(w, "(")
		lead := len(w) - len(core)
		core = strings.TrimRight(core, ",;:)")
		if strings.Contains(core, "*") || len(core) > 1 && core[0] == '-' && core[len(core)-1] != '-' {
			words[i] = w[:lead] + "`" + core + "`" + w[lead+len(core):]
		}
	}
	return strings.ReplaceAll(strings.Join(words, " "), "|", `\|`)
}

// markers are the comments around subcommand name's table.
func markers(name string) (begin, end string) {
	return "<!-- flags:" + name + " begin -->\n", "<!-- flags:" + name + " end -->"
}

// withTable is page with the table of subcommand name replaced by table.
func withTable(page, name, table string) (string, error) {
	begin, end := markers(name)
	i := strings.Index(page, begin)
	j := strings.Index(page, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %q … %q section", strings.TrimSpace(begin), end)
	}
	i += len(begin)
	return page[:i] + "\n" + table + "\n" + page[j:], nil
}

func TestServerDoc(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(serverDoc)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	want := page
	for _, name := range documented {
		if want, err = withTable(want, name, flagTable(t, tableFlags(t, name))); err != nil {
			t.Fatalf("docs/server.md: %v", err)
		}
	}
	if want != page {
		if *update {
			if err := os.WriteFile(serverDoc, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("docs/server.md's flag tables differ from the flags defined; run go test ./cmd/atoll -run ServerDoc -update\n%s", lineDiff(page, want))
	}
	// Its prose names only flags that exist.
	known := map[string]bool{}
	for _, name := range documented {
		commandFlags(t, name).VisitAll(func(f *flag.Flag) { known[f.Name] = true })
	}
	for _, m := range codeSpan.FindAllString(page, -1) {
		for _, f := range flagInCode.FindAllStringSubmatch(m, -1) {
			if !known[f[1]] {
				t.Errorf("docs/server.md names --%s (in %s), which no subcommand it documents defines", f[1], m)
			}
		}
	}
}

var (
	// codeSpan matches a markdown code span.
	codeSpan = regexp.MustCompile("`[^`\n]+`")
	// flagInCode matches a flag's name in a code span.
	flagInCode = regexp.MustCompile("(?:^|[\\s=`])--([a-z][a-z0-9-]*)")
)

// The help the tables are read back from says what the flags say.
func TestServerDocReadsHelpBack(t *testing.T) {
	t.Parallel()
	var stdout bytes.Buffer
	run([]string{"server", "-h"}, nil, &stdout, io.Discard)
	fs := commandFlags(t, "server")
	var n int
	for _, h := range readHelp(stdout.String()) {
		n++
		f := fs.Lookup(h.name)
		if f == nil || f.Usage != h.usage || f.DefValue != h.def {
			t.Errorf("read back --%s, %q (default %q); defined: %+v", h.name, h.usage, h.def, f)
		}
	}
	var defined int
	fs.VisitAll(func(*flag.Flag) { defined++ })
	if n != defined {
		t.Errorf("read back %d flags of %d", n, defined)
	}
}

// lineDiff lists the lines of have that want lacks (-) and of want that
// have lacks (+).
func lineDiff(have, want string) string {
	h, w := strings.Split(have, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for _, l := range h {
		if !slices.Contains(w, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range w {
		if !slices.Contains(h, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}
