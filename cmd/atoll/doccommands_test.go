package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/atoll-iac/atoll/workflows"
)

// The docs show atoll commands and link to each other; these tests keep
// them true: every atoll command line in a shell block parses with its
// subcommand's flags, and every relative link leads to a file and a
// heading that exist. The commands are parsed, not run: each flag must
// exist and each value fit its type, without the secrets and files a
// real run needs (see checkCommand).

// docPages are the pages checked, relative to the repository root.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join("..", "..", "README.md")}, pages...)
}

// codeBlock is a fenced code block: its info string, the line of the
// page its first line is on, and its lines.
type codeBlock struct {
	lang  string
	line  int
	lines []string
}

// shellLangs are the info strings of blocks whose lines are commands.
var shellLangs = []string{"", "sh", "bash", "shell", "console"}

// docFence matches the line that opens or closes a fenced code block.
var docFence = regexp.MustCompile("^\\s*(```+|~~~+)\\s*([^\\s`]*)")

// splitFences returns the page's prose, with the lines of code blocks
// blanked, and its code blocks.
func splitFences(page string) (prose []string, blocks []codeBlock) {
	var open string
	var b *codeBlock
	for i, line := range strings.Split(page, "\n") {
		m := docFence.FindStringSubmatch(line)
		switch {
		case open == "" && m != nil:
			open = m[1]
			blocks = append(blocks, codeBlock{lang: strings.ToLower(m[2]), line: i + 2})
			b = &blocks[len(blocks)-1]
			line = ""
		case open != "" && m != nil && m[2] == "" && strings.HasPrefix(m[1], open[:1]) && len(m[1]) >= len(open):
			open = ""
			line = ""
		case open != "":
			b.lines = append(b.lines, line)
			line = ""
		}
		prose = append(prose, line)
	}
	return prose, blocks
}

// commandLine is a command of a block, its continuation lines joined.
type commandLine struct {
	line int
	text string
}

// commands are the command lines of b: in a console block (or any block
// with a $ prompt) the prompted ones, else every line that is not a
// comment.
func (b codeBlock) commands() []commandLine {
	prompted := b.lang == "console"
	for _, l := range b.lines {
		prompted = prompted || strings.HasPrefix(strings.TrimSpace(l), "$ ")
	}
	var cmds []commandLine
	for i := 0; i < len(b.lines); i++ {
		text, ok := strings.TrimSpace(b.lines[i]), true
		if prompted {
			text, ok = strings.CutPrefix(text, "$ ")
		}
		start := i
		for strings.HasSuffix(text, `\`) && i+1 < len(b.lines) {
			i++
			text = strings.TrimSuffix(text, `\`) + " " + strings.TrimSpace(b.lines[i])
		}
		if ok && text != "" && !strings.HasPrefix(text, "#") {
			cmds = append(cmds, commandLine{b.line + start, text})
		}
	}
	return cmds
}

// shellWords splits a command line as a shell would into simple
// commands, each a list of words, quotes removed. Substitutions ($(…),
// ${…}) stay whole in their word, unexpanded; a # starting a word ends
// the line.
func shellWords(line string) [][]string {
	var cmds [][]string
	var words []string
	var word strings.Builder
	inWord, quote, depth := false, rune(0), 0
	endWord := func() {
		if inWord {
			words = append(words, word.String())
		}
		word.Reset()
		inWord = false
	}
	endCommand := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == '\'':
			word.WriteRune(r)
		case quote == '"' && r == '\\' && i+1 < len(rs):
			i++
			word.WriteRune(rs[i])
		case quote == '"':
			word.WriteRune(r)
		case depth > 0:
			word.WriteRune(r)
			switch r {
			case '(', '{':
				depth++
			case ')', '}':
				depth--
			}
		case r == '$' && i+1 < len(rs) && (rs[i+1] == '(' || rs[i+1] == '{'):
			word.WriteRune(r)
			word.WriteRune(rs[i+1])
			i++
			inWord, depth = true, 1
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			word.WriteRune(rs[i])
			inWord = true
		case r == '#' && !inWord:
			endCommand()
			return cmds
		case r == ';' || r == '&' || r == '|' || r == '(' || r == ')':
			endCommand()
		case r == '>' || r == '<':
			// A redirection: its target is no argument.
			endWord()
			for i+1 < len(rs) && (rs[i+1] == '>' || rs[i+1] == '&' || rs[i+1] == ' ') {
				i++
			}
			for i+1 < len(rs) && !unicode.IsSpace(rs[i+1]) && !strings.ContainsRune(";&|", rs[i+1]) {
				i++
			}
		case unicode.IsSpace(r):
			endWord()
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	endCommand()
	return cmds
}

// docAssignment matches a leading VAR=value word.
var docAssignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// atollArgs returns the arguments after atoll of a simple command that
// runs it (atoll …, ./atoll …, go run ./cmd/atoll …), and the variables
// it is given before.
func atollArgs(words []string) (args []string, env map[string]string, ok bool) {
	env = map[string]string{}
	for len(words) > 0 {
		switch w := words[0]; {
		case slices.Contains([]string{"do", "then", "else", "exec", "time", "env", "!"}, w):
		case docAssignment.MatchString(w):
			k, v, _ := strings.Cut(w, "=")
			env[k] = v
		default:
			switch {
			case w == "atoll" || strings.HasSuffix(w, "/atoll"):
				return words[1:], env, true
			case len(words) >= 3 && w == "go" && words[1] == "run" && strings.HasSuffix(strings.Split(words[2], "@")[0], "cmd/atoll"):
				return words[3:], env, true
			}
			return nil, nil, false
		}
		words = words[1:]
	}
	return nil, nil, false
}

// upperWord matches a word in capitals, such as TOKEN or URL.
var upperWord = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// placeholder reports whether a value stands for one the reader gives:
// $TOKEN, ${…}, $(…), …, <token>, TOKEN.
func placeholder(v string) bool {
	return strings.ContainsAny(v, "$…") || strings.Contains(v, "...") ||
		strings.HasPrefix(v, "<") && strings.HasSuffix(v, ">") || upperWord.MatchString(v)
}

// usageLine matches a subcommand's line in atoll's usage.
var usageLine = regexp.MustCompile(`(?m)^\s+atoll (\S+)`)

// subcommands are the subcommands atoll's usage lists.
func subcommands() []string {
	var names []string
	for _, m := range usageLine.FindAllStringSubmatch(topUsage, -1) {
		names = append(names, m[1])
	}
	return names
}

// checkCommand checks the arguments of one atoll command line. Of the
// subcommands with flags it parses the flags with their real definitions
// and parse, with the line's ATOLL_* variables as the environment: so
// every flag must exist and every value fit its type. It does not build
// the subcommand's config (a required flag may be left out, files it
// names need not exist), and a placeholder value stands for a valid one:
// the flag's default is parsed instead. Other subcommands are only
// checked to exist; a line that is no subcommand must be a comment
// command (atoll plan -d DIR).
func checkCommand(t *testing.T, line string, args []string, env map[string]string) error {
	if len(args) == 0 {
		return nil
	}
	sub := args[0]
	if !slices.Contains(documented, sub) {
		if slices.Contains(subcommands(), sub) || slices.Contains([]string{"help", "-h", "--help", "-version", "--version"}, sub) {
			return nil
		}
		if _, ok, err := workflows.ParseComment(line, []string{"-"}); ok && err == nil {
			return nil
		}
		return fmt.Errorf("%q is neither a subcommand (atoll help lists %s) nor a comment command", sub, strings.Join(subcommands(), ", "))
	}
	args = args[1:]
	if sub == "ci" && len(args) > 0 && (args[0] == "plan" || args[0] == "apply") {
		args = args[1:]
	}
	fs := commandFlags(t, sub)
	vars := map[string]string{}
	for k, v := range env {
		if !strings.HasPrefix(k, "ATOLL_") {
			continue
		}
		var known bool
		fs.VisitAll(func(f *flag.Flag) { known = known || envName(f.Name) == k })
		if !known {
			return fmt.Errorf("%s names no flag of atoll %s", k, sub)
		}
		if !placeholder(v) {
			vars[k] = v
		}
	}
	args = slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "…" || a == "..." })
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		f := fs.Lookup(name)
		if !strings.HasPrefix(args[i], "-") || f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && ok && b.IsBoolFlag() {
			continue
		}
		switch {
		case hasValue && placeholder(value):
			args[i] = "--" + name + "=" + f.DefValue
		case !hasValue && i+1 < len(args):
			i++
			if placeholder(args[i]) {
				args[i] = f.DefValue
			}
		}
	}
	err := parse(fs, args, func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func TestDocCommands(t *testing.T) {
	t.Parallel()
	var checked int
	for _, path := range docPages(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(filepath.ToSlash(path), "../../")
		_, blocks := splitFences(string(b))
		for _, block := range blocks {
			if !slices.Contains(shellLangs, block.lang) {
				continue
			}
			for _, c := range block.commands() {
				for _, words := range shellWords(c.text) {
					args, env, ok := atollArgs(words)
					if !ok {
						continue
					}
					checked++
					if err := checkCommand(t, c.text, args, env); err != nil {
						t.Errorf("%s:%d: %s\n\t%v", name, c.line, c.text, err)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no atoll command found in the docs: is the test reading them?")
	}
	t.Logf("checked %d atoll commands", checked)
}

func TestDocCommandsCatchMistakes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		line string
		ok   bool
	}{
		{"atoll server --port 4141 --repo-allowlist 'acme/*'", true},
		{"ATOLL_GH_TOKEN=ghp_… atoll server --gh-token-file=$TOKEN_FILE", true},
		{"go run ./cmd/atoll server --port $port --data-dir ~/.atoll-$port &", true},
		{"atoll ci plan --plans-dir plans", true},
		{"atoll forward --url http://atoll.internal:4141/events --timeout 5m", true},
		{"atoll projects --base main --repo path/to/checkout", true},
		{"atoll server -h", true},
		{"atoll plan -d DIR -w WORKSPACE", true},
		{"atoll server --bogus", false},
		{"atoll server --port http", false},
		{"atoll server --poll-interval 30", false},
		{"ATOLL_POLL_INTERVAL=often atoll server", false},
		{"ATOLL_GH_TOKN=x atoll server", false},
		{"atoll projects --plans-dir x", false},
		{"atoll serve --port 4141", false},
	} {
		var err error
		for _, words := range shellWords(tt.line) {
			if args, env, ok := atollArgs(words); ok {
				err = checkCommand(t, tt.line, args, env)
			}
		}
		if (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok %v", tt.line, err, tt.ok)
		}
	}
}

// docLink matches a link's target: inline, reference definition, or HTML.
var docLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)|(?:href|src)="([^"]+)"`)

// docAbsolute matches a link that leaves the repository: a URL, mailto:.
var docAbsolute = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:|^//`)

// docInlineCode matches a code span, whose text is no link.
var docInlineCode = regexp.MustCompile("`+[^`]+`+")

// Every relative link of the docs leads to a file that exists, and its
// #anchor, in a page, to a heading of it. (Named to run with -run
// DocCommand, as the anchors' test below.)
func TestDocCommandLinks(t *testing.T) {
	t.Parallel()
	anchors := map[string][]string{}
	anchorsOf := func(path string) []string {
		if a, ok := anchors[path]; ok {
			return a
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		anchors[path] = headingAnchors(string(b))
		return anchors[path]
	}
	for _, path := range docPages(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(filepath.ToSlash(path), "../../")
		prose, _ := splitFences(string(b))
		for i, line := range prose {
			for _, m := range docLink.FindAllStringSubmatch(docInlineCode.ReplaceAllString(line, ""), -1) {
				target := m[1] + m[2] + m[3]
				if docAbsolute.MatchString(target) {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				if unescaped, err := url.PathUnescape(file); err == nil {
					file = unescaped
				}
				dest := path
				if file != "" {
					dest = filepath.Join(filepath.Dir(path), filepath.FromSlash(file))
				}
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s:%d: link to %s: no such file", name, i+1, target)
					continue
				}
				if anchor != "" && strings.HasSuffix(dest, ".md") && !slices.Contains(anchorsOf(dest), anchor) {
					t.Errorf("%s:%d: link to %s: no such heading", name, i+1, target)
				}
			}
		}
	}
}

var (
	// docHeading matches an ATX heading, its text in the group.
	docHeading = regexp.MustCompile(`^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$`)
	// docTextLink matches a link or image, to keep its text.
	docTextLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	// docHTMLTag matches an HTML tag, which a heading's anchor leaves out.
	docHTMLTag = regexp.MustCompile(`<[^>]*>`)
	// docHTMLAnchor matches an anchor set in HTML.
	docHTMLAnchor = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
)

// headingAnchors are the anchors of a page's headings, as GitHub makes
// them: the heading's text in lower case, without punctuation other than
// dashes and underscores, spaces as dashes; a repeated one gets -1, -2…
// Anchors set in HTML count too.
func headingAnchors(page string) []string {
	prose, _ := splitFences(page)
	var anchors []string
	seen := map[string]int{}
	for _, line := range prose {
		for _, m := range docHTMLAnchor.FindAllStringSubmatch(line, -1) {
			anchors = append(anchors, m[1])
		}
		m := docHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		text := docHTMLTag.ReplaceAllString(docTextLink.ReplaceAllString(m[1], "$1"), "")
		slug := strings.Map(func(r rune) rune {
			switch {
			case r == ' ':
				return '-'
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
				return unicode.ToLower(r)
			}
			return -1
		}, text)
		if n := seen[slug]; n > 0 {
			anchors = append(anchors, fmt.Sprintf("%s-%d", slug, n))
		} else {
			anchors = append(anchors, slug)
		}
		seen[slug]++
	}
	return anchors
}

func TestDocCommandAnchors(t *testing.T) {
	t.Parallel()
	page := "# atoll\n## No server at all: `atoll ci`\n## Which one?\n```sh\n# not a heading\n```\n## Which one\n### [Linked](x.md) *text*\n"
	want := []string{"atoll", "no-server-at-all-atoll-ci", "which-one", "which-one-1", "linked-text"}
	if got := headingAnchors(page); !slices.Equal(got, want) {
		t.Errorf("anchors %q, want %q", got, want)
	}
}
