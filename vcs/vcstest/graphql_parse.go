package vcstest

import (
	"errors"
	"fmt"
)

// gqlField is one field of a GraphQL selection set.
type gqlField struct {
	key, name string     // key is the alias, or the name
	args      string     // the text between the parentheses, unparsed
	sel       []gqlField // the field's own selection set
}

// parseOperation reads the little of GraphQL's syntax the fake needs: one
// operation ("query" or "mutation", shorthand "{...}" being a query) and
// its selection set, with aliases, arguments kept as text, and nested
// selection sets. Variable definitions and directives are skipped;
// fragments are not supported.
func parseOperation(query string) (op string, sel []gqlField, err error) {
	p := &gqlParser{s: query}
	p.space()
	op = "query"
	if p.peek() != '{' {
		op = p.name()
		if op != "query" && op != "mutation" {
			return "", nil, p.fail("an operation")
		}
		p.name() // the operation's name, if any
		if p.peek() == '(' {
			p.balanced('(', ')')
		}
	}
	if sel, err = p.selectionSet(); err != nil {
		return "", nil, err
	}
	if p.i < len(p.s) {
		return "", nil, p.fail("the end of the document")
	}
	return op, sel, nil
}

type gqlParser struct {
	s string
	i int
}

func (p *gqlParser) fail(want string) error {
	if p.i >= len(p.s) {
		return fmt.Errorf("Parse error on end of input (expected %s)", want)
	}
	return fmt.Errorf("Parse error on %q at offset %d (expected %s)", p.s[p.i:p.i+1], p.i, want)
}

// space skips white space, commas and comments.
func (p *gqlParser) space() {
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '#':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			p.i++
		default:
			return
		}
	}
}

func (p *gqlParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// name reads a name, or returns "" if none is next.
func (p *gqlParser) name() string {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c != '_' && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && !(p.i > start && '0' <= c && c <= '9') {
			break
		}
		p.i++
	}
	name := p.s[start:p.i]
	p.space()
	return name
}

// balanced skips from open to its matching close, minding strings, and
// returns the text between them.
func (p *gqlParser) balanced(open, close byte) string {
	start, depth := p.i+1, 0
	for ; p.i < len(p.s); p.i++ {
		switch p.s[p.i] {
		case '"':
			for p.i++; p.i < len(p.s) && p.s[p.i] != '"'; p.i++ {
				if p.s[p.i] == '\\' {
					p.i++
				}
			}
		case open:
			depth++
		case close:
			if depth--; depth == 0 {
				p.i++
				text := p.s[start : p.i-1]
				p.space()
				return text
			}
		}
	}
	return p.s[min(start, len(p.s)):]
}

// selectionSet reads "{ field... }".
func (p *gqlParser) selectionSet() ([]gqlField, error) {
	if p.peek() != '{' {
		return nil, p.fail("{")
	}
	p.i++
	p.space()
	var sel []gqlField
	for p.peek() != '}' {
		f := gqlField{name: p.name()}
		if f.name == "" {
			return nil, p.fail("a field")
		}
		if p.peek() == ':' {
			p.i++
			p.space()
			if f.name, f.key = p.name(), f.name; f.name == "" {
				return nil, p.fail("a field")
			}
		}
		if f.key == "" {
			f.key = f.name
		}
		if p.peek() == '(' {
			f.args = p.balanced('(', ')')
		}
		for p.peek() == '@' { // directives
			p.i++
			p.name()
			if p.peek() == '(' {
				p.balanced('(', ')')
			}
		}
		if p.peek() == '{' {
			sub, err := p.selectionSet()
			if err != nil {
				return nil, err
			}
			f.sel = sub
		}
		sel = append(sel, f)
	}
	p.i++
	p.space()
	if len(sel) == 0 {
		return nil, errors.New("Parse error: a selection set is empty")
	}
	return sel, nil
}
