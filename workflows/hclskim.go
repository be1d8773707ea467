package workflows

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// The skimmer finds module sources in native-syntax configuration without
// building a syntax tree: parsing every file of a large monorepo with
// hclsyntax costs four times as much.

// skimModuleSources returns the literal sources of the top-level module
// blocks in src, a file in HCL's native syntax, without building a syntax
// tree: parsing a whole file costs far more than the few attributes that
// matter here. It follows only what decides where items begin (quoted
// strings, template sequences, heredocs, comments and brackets, as
// hclsyntax's scanner does) and hands each source expression to hclsyntax.
// ok is false when src does not hold together (an unterminated string,
// comment or heredoc, a stray bracket): the caller then leaves it to
// hclsyntax's error recovery.
func skimModuleSources(src []byte) (sources []string, ok bool) {
	s := skimmer{src: bytes.TrimPrefix(src, []byte("\xef\xbb\xbf")), atItem: true, source: -1}
	for s.i < len(s.src) {
		var ok bool
		switch s.top().kind {
		case '"':
			ok = s.quoted()
		case '<':
			ok = s.heredoc()
		default:
			ok = s.code()
		}
		if !ok {
			return nil, false
		}
	}
	return s.sources, len(s.stack) == 0
}

// skimmer is the state of skimModuleSources.
type skimmer struct {
	src     []byte
	i       int         // the next byte to read
	stack   []skimFrame // what is open at i, innermost last
	atItem  bool        // in code, the next token begins a body item
	atLine  bool        // in a heredoc, i is at the start of a line
	source  int         // where the pending source expression begins, or -1
	sources []string
}

// skimFrame is a bracket, template sequence, string or heredoc open at the
// skimmer's position.
type skimFrame struct {
	// kind is '{', '[', '(' or '$' (a template sequence: code until its
	// '}'), '"' (a quoted string) or '<' (a heredoc); 0 for the top level.
	kind   byte
	module bool   // a top-level module block's body
	marker []byte // a heredoc's closing marker
}

func (s *skimmer) top() skimFrame {
	if len(s.stack) == 0 {
		return skimFrame{}
	}
	return s.stack[len(s.stack)-1]
}

func (s *skimmer) push(f skimFrame) { s.stack = append(s.stack, f) }

func (s *skimmer) pop() { s.stack = s.stack[:len(s.stack)-1] }

// inModule reports whether the skimmer is directly in a module block's body.
func (s *skimmer) inModule() bool { return len(s.stack) == 1 && s.stack[0].module }

// code reads one token of code.
func (s *skimmer) code() bool {
	src, i := s.src, s.i
	switch c := src[i]; {
	case c == '\n':
		if s.inModule() {
			s.endSource(i + 1) // a heredoc needs its newline
		}
		s.atItem = true
		s.i++
	case c == ' ' || c == '\t' || c == '\r':
		s.i++
	case c == '#' || c == '/' && s.at(i+1) == '/':
		s.i = s.lineEnd(i) // the newline still ends the item
	case c == '/' && s.at(i+1) == '*':
		end := bytes.Index(src[i+2:], []byte("*/"))
		if end < 0 {
			return false
		}
		s.i = i + 2 + end + 2
	case c == '"':
		s.push(skimFrame{kind: '"'})
		s.i++
		s.atItem = false
	case c == '<' && s.at(i+1) == '<':
		if marker, next, ok := s.heredocStart(i + 2); ok {
			s.push(skimFrame{kind: '<', marker: marker})
			s.i = next
			s.atLine = true
		} else {
			s.i++
		}
		s.atItem = false
	case c == '{' || c == '[' || c == '(':
		s.push(skimFrame{kind: c})
		s.i++
		s.atItem = c == '{'
	case c == '}' || c == ']' || c == ')':
		open := s.top().kind
		if c == '}' && open != '{' && open != '$' || c == ']' && open != '[' || c == ')' && open != '(' {
			return false
		}
		if s.inModule() {
			s.endSource(i)
		}
		s.pop()
		s.i++
		s.atItem = false
		s.atLine = false // back in a heredoc, if any, mid-line
	case isHCLWordByte(c):
		s.word()
	default:
		s.i++
		s.atItem = false
	}
	return true
}

// word reads an identifier or number, noting where a module block's body
// or its source expression begins.
func (s *skimmer) word() {
	end := s.wordEnd(s.i)
	w, atItem := s.src[s.i:end], s.atItem
	s.i, s.atItem = end, false
	switch {
	case atItem && len(s.stack) == 0 && string(w) == "module":
		s.moduleHeader()
	case atItem && s.inModule() && string(w) == "source":
		if j := s.skipBlank(end); s.at(j) == '=' && s.at(j+1) != '=' {
			s.source = j + 1
			s.i = j + 1
		}
	}
}

// moduleHeader reads, after a top-level "module", the labels up to the
// brace that opens the block's body. If they are not a block header, it
// leaves them for code to read.
func (s *skimmer) moduleHeader() {
	for j := s.i; ; {
		j = s.skipBlank(j)
		switch c := s.at(j); {
		case c == '{':
			s.push(skimFrame{kind: '{', module: true})
			s.i, s.atItem = j+1, true
			return
		case c == '"':
			if j = s.labelEnd(j + 1); j < 0 {
				return
			}
		case isHCLWordByte(c):
			j = s.wordEnd(j)
		default:
			return
		}
	}
}

// quoted reads one character of a quoted string.
func (s *skimmer) quoted() bool {
	switch s.src[s.i] {
	case '"':
		s.pop()
		s.i++
	case '\\':
		if c := s.at(s.i + 1); c == '\n' || c == '\r' {
			return false
		}
		s.i += 2
	case '\n', '\r':
		return false
	case '$', '%':
		s.template()
	default:
		s.i++
	}
	return true
}

// heredoc reads one character of a heredoc, or its closing marker.
func (s *skimmer) heredoc() bool {
	if s.atLine {
		end := s.lineEnd(s.i)
		if end < len(s.src) && bytes.Equal(bytes.TrimSpace(s.src[s.i:end]), s.top().marker) {
			s.pop()
			s.i = end // the newline ends the item
			return true
		}
		s.atLine = false
	}
	switch s.src[s.i] {
	case '\n':
		s.atLine = true
		s.i++
	case '$', '%':
		s.template()
	default:
		s.i++
	}
	return true
}

// template reads a '$' or '%' in a string or heredoc: the start of a
// template sequence, an escaped one ("$${", "%%{") or a plain character.
func (s *skimmer) template() {
	c, i := s.src[s.i], s.i
	switch {
	case s.at(i+1) == c && s.at(i+2) == '{':
		s.i += 3
	case s.at(i+1) == '{':
		s.push(skimFrame{kind: '$'})
		s.i += 2
		s.atItem, s.atLine = false, false
	default:
		s.i++
	}
}

// endSource takes the pending source expression, which ends at end.
func (s *skimmer) endSource(end int) {
	if s.source < 0 {
		return
	}
	if v, ok := moduleSourceValue(s.src[s.source:end]); ok {
		s.sources = append(s.sources, v)
	}
	s.source = -1
}

// skipBlank returns the index of the first byte from j that is neither a
// space, a tab nor in a /* comment */.
func (s *skimmer) skipBlank(j int) int {
	for j < len(s.src) {
		switch {
		case s.src[j] == ' ' || s.src[j] == '\t':
			j++
		case s.src[j] == '/' && s.at(j+1) == '*':
			end := bytes.Index(s.src[j+2:], []byte("*/"))
			if end < 0 {
				return len(s.src)
			}
			j += 2 + end + 2
		default:
			return j
		}
	}
	return j
}

// moduleSourceValue returns the value of a source expression if it is a literal
// string.
func moduleSourceValue(expr []byte) (string, bool) {
	// Nearly every source is a plain quoted string, to be taken as it is.
	if lit, ok := bytes.CutPrefix(bytes.TrimSpace(expr), []byte(`"`)); ok {
		if lit, ok := bytes.CutSuffix(lit, []byte(`"`)); ok && !bytes.ContainsAny(lit, "\"\\$%\r\n") {
			return string(lit), true
		}
	}
	e, diags := hclsyntax.ParseExpression(expr, "", hcl.InitialPos)
	if diags.HasErrors() {
		return "", false
	}
	return hclLiteralString(e)
}

// heredocStart reads a heredoc's introducer after its "<<": an optional
// '-', the marker and a newline. It returns the marker and where the
// heredoc's first line begins.
func (s *skimmer) heredocStart(j int) (marker []byte, next int, ok bool) {
	if s.at(j) == '-' {
		j++
	}
	start := j
	if c := s.at(j); !isHCLWordByte(c) || '0' <= c && c <= '9' || c == '-' {
		return nil, 0, false
	}
	j = s.wordEnd(j)
	marker = s.src[start:j]
	if s.at(j) == '\r' {
		j++
	}
	if s.at(j) != '\n' {
		return nil, 0, false
	}
	return marker, j + 1, true
}

// labelEnd returns the index after the closing quote of a block label
// whose text begins at j, or -1 if the label does not close on its line.
func (s *skimmer) labelEnd(j int) int {
	for ; j < len(s.src); j++ {
		switch s.src[j] {
		case '"':
			return j + 1
		case '\\':
			j++
		case '\n', '\r':
			return -1
		}
	}
	return -1
}

// at returns the byte at i, or 0 past the end.
func (s *skimmer) at(i int) byte {
	if i < len(s.src) {
		return s.src[i]
	}
	return 0
}

// lineEnd returns the index of the newline that ends the line holding i,
// or the end of the source.
func (s *skimmer) lineEnd(i int) int {
	if n := bytes.IndexByte(s.src[i:], '\n'); n >= 0 {
		return i + n
	}
	return len(s.src)
}

// isHCLWordByte reports whether c can be part of an identifier or a number.
// Bytes of multi-byte characters count: outside strings and comments,
// valid HCL holds them only in identifiers.
func isHCLWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c >= 0x80
}

// wordEnd returns the index after the word that begins at j.
func (s *skimmer) wordEnd(j int) int {
	for j < len(s.src) && isHCLWordByte(s.src[j]) {
		j++
	}
	return j
}
