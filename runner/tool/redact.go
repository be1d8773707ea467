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
var credentialShapes = []*regexp.Regexp{
	regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{36,}\b`),          // GitHub tokens
	regexp.MustCompile(`\bgithub_pat_[A-Za-z0-9_]{22,}\b`),        // GitHub fine-grained tokens
	regexp.MustCompile(`\bglpat-[A-Za-z0-9_-]{20,}\b`),            // GitLab personal tokens
	regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`),           // AWS access key ids
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*`), // PEM private keys
}

// awsSecret matches an AWS secret access key by the name before it.
var awsSecret = regexp.MustCompile(`(?i)(secret_access_key["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{40}`)

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
	for _, re := range credentialShapes {
		s = re.ReplaceAllString(s, redacted)
	}
	return awsSecret.ReplaceAllString(s, "${1}"+redacted)
}
