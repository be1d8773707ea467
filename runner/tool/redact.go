package tool

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
)

// redacted replaces whatever a Redactor hides.
const redacted = "[redacted]"

// credentialShapes match well-known credentials wherever they appear.
// Each is looked for only in text that holds one of its literals, which
// every match of it contains: a plan's megabytes of output hold none, and
// strings.Contains rules that out some hundred times faster than the
// regexp's scan, which no literal prefix speeds up.
var credentialShapes = []struct {
	re       *regexp.Regexp
	literals []string
}{
	{regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{36,}\b`), []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}}, // GitHub tokens
	{regexp.MustCompile(`\bgithub_pat_[A-Za-z0-9_]{22,}\b`), []string{"github_pat_"}},                        // GitHub fine-grained tokens
	{regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20,}\b`), []string{"glpat-"}},                                 // GitLab personal tokens
	{regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`), []string{"AKIA", "ASIA"}},                          // AWS access key ids
	{regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*`), []string{"-----BEGIN "}},                 // PEM private keys
}

// awsSecret matches an AWS secret access key by the name before it.
var awsSecret = regexp.MustCompile(`(?i)(secret_access_key["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{40}`)

// mayHoldAWSSecret reports whether s may hold a match of awsSecret: only
// if it holds "ecret_acce" in some mix of cases. That part of the name is
// the one whose letters fold to ASCII letters alone; s and k fold to ſ
// and to the Kelvin sign too, which (?i) matches.
func mayHoldAWSSecret(s string) bool {
	const lit, under = "ecret_acce", 5 // lit[under] is '_'
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '_')
		if j < 0 {
			return false
		}
		j += i
		if start := j - under; start >= 0 && len(s)-start >= len(lit) && asciiFoldEqual(s[start:start+len(lit)], lit) {
			return true
		}
		i = j + 1
	}
}

// asciiFoldEqual reports whether s is lower, a string of lower-case ASCII
// letters and other ASCII bytes, in some mix of cases.
func asciiFoldEqual(s, lower string) bool {
	for i := range len(lower) {
		if c, l := s[i], lower[i]; c != l && !('a' <= l && l <= 'z' && c == l-'a'+'A') {
			return false
		}
	}
	return true
}

// Redactor hides secrets in text: given values, and credentials of
// well-known shapes. It is safe for concurrent use.
type Redactor struct {
	values []string // longest first, so that no part of one survives
	// multiline is set when a value spans lines.
	multiline bool
}

// NewRedactor returns a redactor for values; empty ones are ignored.
func NewRedactor(values ...string) *Redactor {
	vs := slices.DeleteFunc(slices.Clone(values), func(v string) bool { return v == "" })
	slices.SortFunc(vs, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	vs = slices.Compact(vs)
	multiline := slices.ContainsFunc(vs, func(v string) bool { return strings.ContainsAny(v, "\r\n") })
	return &Redactor{values: vs, multiline: multiline}
}

// Redact returns s with every secret replaced by [redacted].
func (r *Redactor) Redact(s string) string {
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, redacted)
	}
	for _, shape := range credentialShapes {
		if slices.ContainsFunc(shape.literals, func(lit string) bool { return strings.Contains(s, lit) }) {
			s = shape.re.ReplaceAllString(s, redacted)
		}
	}
	if mayHoldAWSSecret(s) {
		s = awsSecret.ReplaceAllString(s, "${1}"+redacted)
	}
	return s
}
