package workflows

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseComment(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body    string
		want    Command
		isCmd   bool
		wantErr string
	}{
		{"thanks, looks good", Command{}, false, ""},
		{"", Command{}, false, ""},
		{"atollx plan", Command{}, false, ""},
		{"please atoll plan", Command{}, false, ""},
		{"atoll plan", Command{Name: "plan"}, true, ""},
		{"  ATOLL Plan  ", Command{Name: "plan"}, true, ""},
		{"\n\tatoll plan -d infra", Command{Name: "plan", Dir: "infra"}, true, ""},
		{"atoll plan -d ./infra/ -w staging", Command{Name: "plan", Dir: "infra", Workspace: "staging"}, true, ""},
		{"atoll plan -w=prod -d=a/b", Command{Name: "plan", Dir: "a/b", Workspace: "prod"}, true, ""},
		{"atoll help", Command{Name: "help"}, true, ""},
		{"atoll", Command{}, true, "no command given"},
		{"atoll destroy", Command{}, true, "unknown command `destroy`"},
		{"atoll help me", Command{}, true, "`help`: unexpected argument `me`"},
		{"atoll plan -x", Command{}, true, "flag provided but not defined: -x"},
		{"atoll plan -d", Command{}, true, "flag needs an argument: -d"},
		{"atoll plan extra", Command{}, true, "unexpected argument `extra`"},
		{"atoll plan -d ../etc", Command{}, true, "outside the repository"},
		{"atoll plan -d /etc", Command{}, true, "relative to the repository root"},
		{"atoll plan -w ../x", Command{}, true, "workspace"},
		{"atoll plan -w -rf", Command{}, true, "workspace"},
		{"atoll plan -d infra; rm -rf /", Command{}, true, "unexpected argument `rm`"},
		{"atoll plan -d $(id)", Command{Name: "plan", Dir: "$(id)"}, true, ""},
		{"atoll plan -- -target=x", Command{Name: "plan", Extra: []string{"-target=x"}}, true, ""},
		{"atoll apply -d infra -- -target=a -var=b=c", Command{Name: "apply", Dir: "infra", Extra: []string{"-target=a", "-var=b=c"}}, true, ""},
		{"atoll plan -- -refresh=false", Command{}, true, "`-refresh=false` is not allowed here (allowed: `-target=`, `-var=`)"},
		{"atoll plan -- -target=x -chdir=/etc", Command{}, true, "`-chdir=/etc` is never allowed"},
		{"atoll plan -- --state-out=x", Command{}, true, "never allowed"},
		{"atoll plan -- -plugin-dir=/tmp", Command{}, true, "never allowed"},
		{"atoll plan -- -var-file=../../secrets.tfvars", Command{}, true, "inside the repository"},
		{"atoll plan -- -var-file=/etc/passwd", Command{}, true, "inside the repository"},
		{"atoll plan -- -var-file", Command{}, true, "one argument"},
		{"atoll unlock -- -x", Command{}, true, "takes no tool arguments"},
		{"atoll unlock", Command{Name: "unlock"}, true, ""},
		{"atoll version", Command{Name: "version"}, true, ""},
		{"atoll apply -p net", Command{Name: "apply", Project: "net"}, true, ""},
		{"atoll plan -x @org/team", Command{}, true, "`flag provided but not defined: -x`"},
		{"atoll plan -@org/team", Command{}, true, "`flag provided but not defined: -@org/team`"},
		{"atoll plan `x```", Command{}, true, "unexpected argument `'x'''`"},
		{"atoll import terraform_data.x abc-123", Command{Name: "import", Args: []string{"terraform_data.x", "abc-123"}}, true, ""},
		{`atoll import -d infra -w prod module.db.aws_db_instance.main["a b"] arn:aws:rds:eu:1:db/x`, Command{}, true, "takes a resource address and an id"},
		{`atoll import -d infra -w prod module.db.aws_db_instance.main["a"] arn:aws:rds:eu:1:db/x`, Command{Name: "import", Dir: "infra", Workspace: "prod", Args: []string{`module.db.aws_db_instance.main["a"]`, "arn:aws:rds:eu:1:db/x"}}, true, ""},
		{"atoll import -p net aws_vpc.main vpc-1 -- -var=a=b", Command{Name: "import", Project: "net", Args: []string{"aws_vpc.main", "vpc-1"}, Extra: []string{"-var=a=b"}}, true, ""},
		{"atoll import aws_vpc.main", Command{}, true, "takes a resource address and an id"},
		{"atoll import aws_vpc.main vpc-1 extra", Command{}, true, "takes a resource address and an id"},
		{"atoll import aws_vpc.main -state=/etc/x", Command{}, true, "is not a resource address or id"},
		{"atoll import aws_vpc.main vpc-1 -d infra", Command{}, true, "takes a resource address and an id"},
		{"atoll import $(id).x vpc-1", Command{}, true, "is not a resource address"},
		{"atoll import aws_vpc.main vpc-1 -- -chdir=/", Command{}, true, "never allowed"},
		{"atoll state rm terraform_data.x terraform_data.y", Command{Name: "state rm", Args: []string{"terraform_data.x", "terraform_data.y"}}, true, ""},
		{"atoll STATE RM -d infra terraform_data.x", Command{Name: "state rm", Dir: "infra", Args: []string{"terraform_data.x"}}, true, ""},
		{"atoll state rm", Command{}, true, "takes from 1 to 50 resource addresses"},
		{"atoll state mv a b", Command{}, true, "`state rm ADDRESS`"},
		{"atoll state", Command{}, true, "`state rm ADDRESS`"},
		{"atoll state rm -lock=false", Command{}, true, "flag provided but not defined"},
		{"atoll state rm ../x", Command{}, true, "is not a resource address"},
		{"atoll approve_policies", Command{Name: "approve_policies"}, true, ""},
		{"atoll approve_policies now", Command{}, true, "unexpected argument `now`"},
		{"atoll import a.b[\"x`@acme/admins`\"] id", Command{}, true, "holds a backtick"},
		{"atoll import a.b id`x", Command{}, true, "holds a backtick"},
		{"atoll state rm a.b -- -lock=false", Command{}, true, "never allowed"},
		{"atoll plan -- -lock=false", Command{}, true, "never allowed"},
		{"atoll import a.b id -- -config=/etc", Command{}, true, "never allowed"},
	}
	for _, tt := range tests {
		got, isCmd, err := ParseComment(tt.body, []string{"-target=", "-var="})
		if isCmd != tt.isCmd || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseComment(%q) = %+v, %v; want %+v, %v", tt.body, got, isCmd, tt.want, tt.isCmd)
		}
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseComment(%q) error %v", tt.body, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseComment(%q) error %v, want it to contain %q", tt.body, err, tt.wantErr)
		}
	}
}

// TestUsageIsNotACommand: atoll's help, and its answer to a command it
// cannot read, must not read as commands, or atoll would answer itself.
// (Every comment atoll posts in the end-to-end tests is checked too.)
func TestUsageIsNotACommand(t *testing.T) {
	t.Parallel()
	bodies := []string{Usage}
	for _, e := range []string{"atoll", "atoll x", "atoll plan -x"} {
		_, isCmd, err := ParseComment(e, nil)
		if !isCmd || err == nil {
			t.Fatalf("ParseComment(%q) = %v, %v; want a command atoll cannot read", e, isCmd, err)
		}
		bodies = append(bodies, "**atoll could not read that command:** "+err.Error()+".\n\n"+Usage)
	}
	for _, b := range bodies {
		if _, isCmd, _ := ParseComment(b, nil); isCmd {
			t.Errorf("atoll's own comment reads as a command:\n%s", b)
		}
	}
}

func FuzzParseComment(f *testing.F) {
	for _, s := range []string{"atoll plan -d infra -w staging", "atoll help", "atoll plan -- -x", "atoll plan -d ../x", "ATOLL\tplan\n-w=a", "atoll apply -- -target=a -chdir=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		cmd, isCmd, err := ParseComment(body, []string{"-target="})
		if !isCmd || err != nil {
			return
		}
		if !slices.Contains([]string{"plan", "apply", "unlock", "version", "help"}, cmd.Name) {
			t.Fatalf("accepted unknown command %q", cmd.Name)
		}
		if strings.HasPrefix(cmd.Dir, "/") || cmd.Dir == ".." || strings.HasPrefix(cmd.Dir, "../") {
			t.Fatalf("accepted escaping dir %q", cmd.Dir)
		}
		if strings.HasPrefix(cmd.Workspace, "-") || strings.ContainsAny(cmd.Workspace, "/ \t\n") {
			t.Fatalf("accepted unsafe workspace %q", cmd.Workspace)
		}
		for _, a := range cmd.Extra {
			if !strings.HasPrefix(a, "-target=") {
				t.Fatalf("accepted tool argument %q", a)
			}
		}
	})
}
