package workflows

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Command is a comment command, parsed and validated.
type Command struct {
	// Name is "plan", "apply", "import", "state rm", "unlock", "version"
	// or "help".
	Name string
	// Dir is the cleaned project directory, "" when not given.
	Dir string
	// Workspace is the workspace, "" when not given.
	Workspace string
	// Project is the project name given with -p, "" when not given.
	Project string
	// Extra are tool arguments given after "--", each one allowed.
	Extra []string
	// Args are what the command works on: for import, the resource
	// address and the id to import; for state rm, resource addresses.
	Args []string `json:",omitempty"`
}

// maxStateArgs bounds the addresses one state rm takes.
const maxStateArgs = 50

// Selects reports whether the command names projects, rather than meaning
// all of them.
func (c Command) Selects() bool { return c.Dir != "" || c.Workspace != "" || c.Project != "" }

// commandWord starts every command, in any case.
const commandWord = "atoll"

// alwaysRefused are tool arguments no server setting allows: they would
// point the tool outside the checkout or at other state; neverExactly
// those refused by their exact name only: -lock=false would change the
// state without its lock (-lock-timeout is fine), -config would import
// with configuration from elsewhere.
var (
	alwaysRefused = []string{"chdir", "plugin-dir", "state", "backup"}
	neverExactly  = []string{"lock", "config"}
)

// ParseComment reads a comment body. It reports false when the comment is
// not addressed to atoll; otherwise it returns the command, or an error
// whose text can be shown to the commenter as is. Tool arguments after
// "--" are accepted only when each starts with one of allowedExtra.
//
// The body is split on white space and read as data: nothing passes
// through a shell, and quotes have no meaning.
func ParseComment(body string, allowedExtra []string) (Command, bool, error) {
	words := strings.FieldsFunc(body, unicode.IsSpace)
	if len(words) == 0 || !strings.EqualFold(words[0], commandWord) {
		return Command{}, false, nil
	}
	if len(words) == 1 {
		return Command{}, true, errors.New("no command given")
	}
	name, args := strings.ToLower(words[1]), words[2:]
	if name == "state" {
		if len(args) == 0 || !strings.EqualFold(args[0], "rm") {
			return Command{}, true, errors.New("`state` takes one subcommand: `state rm ADDRESS`")
		}
		name, args = "state rm", args[1:]
	}
	var extra []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, extra = args[:i], args[i+1:]
	}
	cmd := Command{Name: name}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	switch name {
	case "plan", "apply", "import", "state rm":
		fs.StringVar(&cmd.Dir, "d", "", "")
		fs.StringVar(&cmd.Workspace, "w", "", "")
		fs.StringVar(&cmd.Project, "p", "", "")
	case "unlock", "version", "help", "approve_policies":
		if len(extra) > 0 {
			return Command{}, true, fmt.Errorf("`%s` takes no tool arguments", name)
		}
	default:
		return Command{}, true, fmt.Errorf("unknown command `%s`", Quote(words[1]))
	}
	if err := fs.Parse(args); err != nil {
		return Command{}, true, fmt.Errorf("`%s`: `%s`", name, Quote(err.Error()))
	}
	rest, err := stateArgs(name, fs.Args())
	if err != nil {
		return Command{}, true, err
	}
	cmd.Args = rest
	if err := checkNameLengths(name, cmd); err != nil {
		return Command{}, true, err
	}
	if cmd.Dir != "" {
		dir, err := CleanDir(cmd.Dir)
		if err != nil {
			return Command{}, true, fmt.Errorf("`%s -d`: %v", name, err)
		}
		cmd.Dir = dir
	}
	if cmd.Workspace != "" {
		if err := ValidateWorkspace(cmd.Workspace); err != nil {
			return Command{}, true, fmt.Errorf("`%s -w`: %v", name, err)
		}
	}
	for _, a := range extra {
		if err := checkExtraArg(a, allowedExtra); err != nil {
			return Command{}, true, fmt.Errorf("`%s`: %v", name, err)
		}
	}
	cmd.Extra = extra
	return cmd, true, nil
}

// stateArgs checks what follows the flags of command name: for import,
// an address and an id; for state rm, addresses; for the others,
// nothing. Neither may look like a tool flag. Flags given after the
// arguments are read as arguments, and refused as flags.
func stateArgs(name string, rest []string) ([]string, error) {
	switch {
	case name == "import" && len(rest) != 2:
		return nil, errors.New("`import` takes a resource address and an id: `atoll import ADDRESS ID`, with `-d DIR` or `-p PROJECT` before them")
	case name == "state rm" && (len(rest) == 0 || len(rest) > maxStateArgs):
		return nil, fmt.Errorf("`state rm` takes from 1 to %d resource addresses: `atoll state rm ADDRESS`", maxStateArgs)
	case name != "import" && name != "state rm" && len(rest) > 0:
		return nil, fmt.Errorf("`%s`: unexpected argument `%s`", name, Quote(rest[0]))
	}
	if len(rest) == 0 {
		return nil, nil
	}
	for i, a := range rest {
		switch {
		case strings.HasPrefix(a, "-"):
			return nil, fmt.Errorf("`%s`: `%s` is not a resource address or id: flags go before them, tool arguments after `--`", name, Quote(a))
		case strings.ContainsFunc(a, func(r rune) bool { return r == '`' || unicode.IsControl(r) }):
			// Replies quote them in code spans, which a backtick would end.
			return nil, fmt.Errorf("`%s`: `%s` holds a backtick or a control character, which no resource address or id atoll takes does", name, Quote(a))
		case len(a) > maxExtraArgLen:
			return nil, fmt.Errorf("`%s`: `%s` is %d bytes long; atoll takes at most %d", name, Quote(a), len(a), maxExtraArgLen)
		case (name == "state rm" || i == 0) && !resourceAddress.MatchString(a):
			return nil, fmt.Errorf("`%s`: `%s` is not a resource address, such as `aws_instance.web` or `module.db.aws_db_instance.main[\"a\"]`", name, Quote(a))
		}
	}
	return rest, nil
}

// resourceAddress matches what the tool takes as a resource address:
// names, dots, and index keys.
var resourceAddress = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_\-]*(\[[^\]]+\])?(\.[A-Za-z_][A-Za-z0-9_\-]*(\[[^\]]+\])?)*$`)

// The names a command gives are bounded, in bytes: no checkout holds a
// longer directory (a file name takes 255 bytes at most), and a longer
// name would only swell the replies that quote it.
const (
	maxDirLen     = 1024
	maxDirElemLen = 255
	maxNameLen    = 256 // of a workspace or a project
	// maxExtraArgLen bounds a tool argument, far below what one process
	// argument may hold (128 KiB on Linux).
	maxExtraArgLen = 4096
)

// checkNameLengths refuses the -d, -w or -p of command name that is
// longer than atoll takes, quoting it shortened.
func checkNameLengths(name string, cmd Command) error {
	for _, f := range []struct {
		flag, what, value string
		limit             int
	}{
		{"d", "directory", cmd.Dir, maxDirLen},
		{"w", "workspace", cmd.Workspace, maxNameLen},
		{"p", "project name", cmd.Project, maxNameLen},
	} {
		if len(f.value) > f.limit {
			return fmt.Errorf("`%s -%s`: the %s `%s` is %d bytes long; atoll takes at most %d", name, f.flag, f.what, Quote(f.value), len(f.value), f.limit)
		}
	}
	for elem := range strings.SplitSeq(cmd.Dir, "/") {
		if len(elem) > maxDirElemLen {
			return fmt.Errorf("`%s -d`: the directory `%s` has a name of %d bytes between slashes; atoll takes at most %d", name, Quote(cmd.Dir), len(elem), maxDirElemLen)
		}
	}
	return nil
}

// checkExtraArg allows a tool argument that starts with an allowed prefix
// and is none of the always refused ones; a -var-file must name a file
// inside the repository.
func checkExtraArg(a string, allowed []string) error {
	if len(a) > maxExtraArgLen {
		return fmt.Errorf("the tool argument `%s` is %d bytes long; atoll takes at most %d", Quote(a), len(a), maxExtraArgLen)
	}
	name, value, hasValue := toolArg(a)
	if slices.Contains(neverExactly, name) {
		return fmt.Errorf("the tool argument `%s` is never allowed", Quote(a))
	}
	for _, r := range alwaysRefused {
		if name == r || strings.HasPrefix(name, r+"-") {
			return fmt.Errorf("the tool argument `%s` is never allowed", Quote(a))
		}
	}
	if name == "var-file" {
		if !hasValue {
			return fmt.Errorf("give `-var-file=FILE` as one argument")
		}
		if _, err := CleanDir(value); err != nil || strings.Contains(value, "..") {
			return fmt.Errorf("the tool argument `%s` must name a file inside the repository", Quote(a))
		}
	}
	if !slices.ContainsFunc(allowed, func(p string) bool { return p != "" && strings.HasPrefix(a, p) }) {
		if len(allowed) == 0 {
			return fmt.Errorf("extra tool arguments (after `--`) are not allowed on this server")
		}
		return fmt.Errorf("the tool argument `%s` is not allowed here (allowed: `%s`)", Quote(a), strings.Join(allowed, "`, `"))
	}
	return nil
}

// toolArg splits a tool argument into its name, without dashes, and the
// value given after "=", if any: "-var-file=x.tfvars" is "var-file" and
// "x.tfvars".
func toolArg(a string) (name, value string, hasValue bool) {
	return strings.Cut(strings.TrimLeft(a, "-"), "=")
}

// Quote keeps user text that a reply quotes in a code span short and free
// of backticks and control characters, so that it can neither end the span
// nor, inside it, mention anyone.
func Quote(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '`' {
			return '\''
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}

// Usage is the reply to `atoll help` and to a command atoll cannot read.
//
// Like every comment atoll writes, it does not start with the command
// word, so atoll never reads its own comments as commands.
const Usage = `**atoll** runs OpenTofu/Terraform for this pull request. Comment:

| command | does |
| --- | --- |
| ` + "`atoll plan`" + ` | plans every project this pull request changes |
| ` + "`atoll plan -d DIR`" + ` | plans the project in DIR, relative to the repository root |
| ` + "`atoll plan -d DIR -w WORKSPACE`" + ` | plans it in the workspace WORKSPACE (default: ` + "`default`" + `) |
| ` + "`atoll plan -p PROJECT`" + ` | plans the project of that name in the repository's config |
| ` + "`atoll apply`" + ` | applies every plan of this pull request not applied yet |
| ` + "`atoll apply -d DIR -w WORKSPACE`" + ` | applies that project's plan |
| ` + "`atoll apply -p PROJECT`" + ` | applies the named project's plan |
| ` + "`atoll import ADDRESS ID`" + ` | imports the existing resource ID into the state as ADDRESS, in the project this pull request changes (or ` + "`-d DIR`" + `, ` + "`-p PROJECT`" + `) |
| ` + "`atoll state rm ADDRESS`" + ` | removes ADDRESS from the project's state, leaving the resource as it is |
| ` + "`atoll approve_policies`" + ` | approves the policy sets you own that denied this pull request's plans |
| ` + "`atoll unlock`" + ` | releases this pull request's locks and discards its plans |
| ` + "`atoll version`" + ` | shows the tool and version each project runs with |
| ` + "`atoll help`" + ` | shows this message |

Tool arguments the server allows go after ` + "`--`" + `, as in ` + "`atoll plan -- -target=ADDR`" + `.
`
