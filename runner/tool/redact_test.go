package tool

import (
	"fmt"
	"strings"
	"testing"
)

// redactEveryShape is Redact as it was before it looked for each shape's
// literals first: every regexp scans all of s. Redact must agree with it.
func redactEveryShape(r *Redactor, s string) string {
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, redacted)
	}
	for _, shape := range credentialShapes {
		s = shape.re.ReplaceAllString(s, redacted)
	}
	return awsSecret.ReplaceAllString(s, "${1}"+redacted)
}

// redactSeeds hold each shape, and near misses of it.
var redactSeeds = []string{
	"",
	"pw hunter22 and hunter2",
	"token ghp_0123456789abcdefghijABCDEFGHIJ012345 end",
	"ghs_0123456789abcdefghijABCDEFGHIJ012345",
	"xghp_0123456789abcdefghijABCDEFGHIJ012345",
	"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
	"glpat-abcdefghij0123456789",
	"key AKIAIOSFODNN7EXAMPLE, ASIAIOSFODNN7EXAMPLE",
	`aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"`,
	`AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`,
	`Secret_Access_Key='wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'`,
	// ſ (U+017F) folds to s, and K (U+212A) to k, as (?i) has it.
	"ſecret_acceſſ_\u212aey=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	"secret_access_key=short",
	"ecret_acce",
	"_",
	"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
	"-----BEGIN CERTIFICATE-----\nMIIEow\n-----END CERTIFICATE-----",
	"plain ghp_short text",
}

func TestRedactAgreesWithEveryShape(t *testing.T) {
	t.Parallel()
	r := NewRedactor("hunter2", "hunter22")
	for _, s := range redactSeeds {
		for _, in := range []string{s, "  + input = " + s + "\n", strings.ToUpper(s), strings.ToLower(s)} {
			if got, want := r.Redact(in), redactEveryShape(r, in); got != want {
				t.Errorf("Redact(%q) = %q, want %q", in, got, want)
			}
		}
	}
}

func FuzzRedact(f *testing.F) {
	for _, s := range redactSeeds {
		f.Add(s)
	}
	r := NewRedactor("hunter2", "hunter22")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := r.Redact(s), redactEveryShape(r, s); got != want {
			t.Errorf("Redact(%q) = %q, want %q", s, got, want)
		}
	})
}

// planOutput is n resources' worth of what `tofu plan` prints.
func planOutput(n int) string {
	var b strings.Builder
	b.WriteString("OpenTofu used the selected providers to generate the following execution\nplan. Resource actions are indicated with the following symbols:\n  + create\n\n")
	for i := range n {
		fmt.Fprintf(&b, "  # terraform_data.r[%d] will be created\n  + resource \"terraform_data\" \"r\" {\n      + id     = (known after apply)\n      + input  = \"value-%d\"\n      + output = (known after apply)\n    }\n\n", i, i)
	}
	fmt.Fprintf(&b, "Plan: %d to add, 0 to change, 0 to destroy.\n", n)
	return b.String()
}

// BenchmarkRedactPlanOutput redacts 4 MB of plan output (20,000
// resources), as Redact does and by every regexp's scan.
func BenchmarkRedactPlanOutput(b *testing.B) {
	r := NewRedactor("hunter2", "ghp_0123456789abcdefghijABCDEFGHIJ012345")
	out := planOutput(20000)
	for _, bc := range []struct {
		name   string
		redact func(string) string
	}{
		{"literals-first", r.Redact},
		{"every-regexp", func(s string) string { return redactEveryShape(r, s) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(out)))
			for b.Loop() {
				bc.redact(out)
			}
		})
	}
}
