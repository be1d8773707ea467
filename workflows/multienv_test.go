package workflows

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var multienvError = regexp.MustCompile(`^pair \d+ (is not NAME=VALUE|has no closing (double|single) quote|has more after its quoted value than a comma or line end)$`)

var multienvTests = []struct {
	out  string
	want []string // nil with err
	err  string
}{
	{"", nil, ""},
	{"\n", nil, ""},
	{"A=1", []string{"A=1"}, ""},
	{"A=1,B=2,C=3\n", []string{"A=1", "B=2", "C=3"}, ""},
	{"A=1\nB=2\r\nC=3\n", []string{"A=1", "B=2", "C=3"}, ""},
	{"TOKEN=abc==,EMPTY=,X=a b", []string{"TOKEN=abc==", "EMPTY=", "X=a b"}, ""},
	{`A="x,y",B='it''s'`, nil, "pair 2 has more after its quoted value"},
	{`A="x,y\"z\\",B='p,q "r"'`, []string{`A=x,y"z\`, `B=p,q "r"`}, ""},
	{"A=\"two\nlines\"\nB=2", []string{"A=two\nlines", "B=2"}, ""},
	{`JSON='{"a":[1,2]}'`, []string{`JSON={"a":[1,2]}`}, ""},
	{"A=1, B=2", []string{"A=1", "B=2"}, ""},
	{"TF_AWS_DEFAULT_TAGS_org:team=x", []string{"TF_AWS_DEFAULT_TAGS_org:team=x"}, ""},
	{"s3cr3t-token", nil, "pair 1 is not NAME=VALUE"},
	{"A=1,s3cr3t", nil, "pair 2 is not NAME=VALUE"},
	{"BAD KEY=1", nil, "pair 1 is not NAME=VALUE"},
	{"=1", nil, "pair 1 is not NAME=VALUE"},
	{`A="s3cr3t`, nil, "pair 1 has no closing double quote"},
	{`A=1,B='s3cr3t`, nil, "pair 2 has no closing single quote"},
}

func TestParseMultienv(t *testing.T) {
	t.Parallel()
	for _, tt := range multienvTests {
		got, err := ParseMultienv(tt.out)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseMultienv(%q) = %q, %v; want an error saying %q", tt.out, got, err, tt.err)
			}
		case err != nil || !reflect.DeepEqual(got, tt.want):
			t.Errorf("ParseMultienv(%q) = %q, %v; want %q", tt.out, got, err, tt.want)
		}
	}
}

// FuzzParseMultienv checks that, whatever a command prints, ParseMultienv
// returns variables with a name, or an error that quotes nothing of the
// output, which holds secrets.
func FuzzParseMultienv(f *testing.F) {
	for _, tt := range multienvTests {
		f.Add(tt.out)
	}
	f.Fuzz(func(t *testing.T, out string) {
		vars, err := ParseMultienv(out)
		if err != nil {
			if !multienvError.MatchString(err.Error()) {
				t.Fatalf("ParseMultienv(%q): unexpected error %q", out, err)
			}
			return
		}
		for _, v := range vars {
			if name, _, ok := strings.Cut(v, "="); !ok || name == "" || strings.ContainsAny(name, " \t\r\n,") {
				t.Fatalf("ParseMultienv(%q) returned %q", out, v)
			}
		}
	})
}

func TestStepVisible(t *testing.T) {
	t.Parallel()
	plan := "Initializing...\ndata.x: Reading...\nterraform_data.a: Refreshing state... [id=1]\nterraform_data.b: Refreshing state... [id=2]\n\nPlan: 1 to add, 0 to change, 0 to destroy.\n"
	for _, tt := range []struct {
		output Output
		out    string
		want   string
	}{
		{"", plan, plan},
		{OutputShow, plan, plan},
		{OutputHide, plan, ""},
		{OutputStripRefreshing, plan, "\nPlan: 1 to add, 0 to change, 0 to destroy.\n"},
		{OutputStripRefreshing, "x: Refreshing state... [id=1]\nNo changes.", "No changes."},
		{OutputStripRefreshing, "No changes.\n", "No changes.\n"},
	} {
		if got := (Step{Name: "run", Output: tt.output}).Visible(tt.out); got != tt.want {
			t.Errorf("Visible with output %q of %q = %q, want %q", tt.output, tt.out, got, tt.want)
		}
	}
}
