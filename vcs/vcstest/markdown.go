package vcstest

import (
	"regexp"
	"strings"
)

// BlockKind is what a Block of a comment's Markdown is.
type BlockKind int

const (
	// Paragraph is a line of text; Text holds it, its inline Markdown
	// untouched. An empty Text is a blank line.
	Paragraph BlockKind = iota
	// Heading is a line starting with #; Text is its title.
	Heading
	// Code is a fenced block; Lines are its lines.
	Code
	// Table is a pipe table; Rows are its cells, the header row first,
	// without the rule under it.
	Table
	// Rule is a thematic break (---).
	Rule
	// Fold opens a collapsed <details> block; Text is its summary. What
	// follows, up to its Unfold, is hidden until the reader opens it.
	Fold
	// Unfold closes a Fold.
	Unfold
)

// Block is one block of a comment's Markdown.
type Block struct {
	Kind  BlockKind
	Text  string
	Lines []string
	Rows  [][]string
}

var summaryLine = regexp.MustCompile(`^<details><summary>(.*)</summary>$`)

// ParseMarkdown splits body into blocks: the subset of GitHub's Markdown
// that atoll's comments are written in (headings, paragraphs, pipe
// tables, fenced code, rules, and <details> blocks whose tags stand on
// lines of their own), so that a reader of the fake forge, on a page or
// in a terminal, sees a comment as GitHub would show it.
func ParseMarkdown(body string) []Block {
	var blocks []Block
	lines := strings.Split(strings.TrimRight(body, "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "|"):
			t := Block{Kind: Table}
			for ; i < len(lines) && strings.HasPrefix(lines[i], "|"); i++ {
				cells := strings.Split(strings.Trim(strings.TrimSpace(lines[i]), "|"), "|")
				if strings.Trim(strings.Join(cells, ""), " -:") == "" {
					continue // | --- | --- |
				}
				for j := range cells {
					cells[j] = strings.TrimSpace(cells[j])
				}
				t.Rows = append(t.Rows, cells)
			}
			i--
			blocks = append(blocks, t)
		case strings.HasPrefix(l, "```"):
			c := Block{Kind: Code, Lines: []string{}}
			for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
				c.Lines = append(c.Lines, lines[i])
			}
			blocks = append(blocks, c)
		case summaryLine.MatchString(l):
			blocks = append(blocks, Block{Kind: Fold, Text: summaryLine.FindStringSubmatch(l)[1]})
		case l == "</details>":
			blocks = append(blocks, Block{Kind: Unfold})
		case l == "---":
			blocks = append(blocks, Block{Kind: Rule})
		case strings.HasPrefix(l, "#"):
			blocks = append(blocks, Block{Kind: Heading, Text: strings.TrimLeft(l, "# ")})
		default:
			blocks = append(blocks, Block{Kind: Paragraph, Text: l})
		}
	}
	return blocks
}

var (
	mdLink   = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	mdCode   = regexp.MustCompile("`([^`]+)`")
	mdStrong = regexp.MustCompile(`\*\*([^*]+)\*\*`)
)

// Inline renders a line's inline Markdown: a link becomes its text (its
// target is dropped, a pull request's author wrote it), and code and
// strong text become what code and strong make of their text.
func Inline(s string, code, strong func(string) string) string {
	s = mdLink.ReplaceAllString(s, "$1")
	s = mdCode.ReplaceAllStringFunc(s, func(m string) string { return code(m[1 : len(m)-1]) })
	return mdStrong.ReplaceAllStringFunc(s, func(m string) string { return strong(m[2 : len(m)-2]) })
}
