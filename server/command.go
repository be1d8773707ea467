package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"

	"github.com/atoll-iac/atoll/workflows"
)

// Command is a comment command, parsed and validated.
type Command struct {
	// Name is "plan" or "help".
	Name string
	// Dir is the cleaned project directory, "" when not given.
	Dir string
	// Workspace is the workspace, "" when not given.
	Workspace string
}

// commandWord starts every command, in any case.
const commandWord = "atoll"

// ParseComment reads a comment body. It reports false when the comment is
// not addressed to atoll; otherwise it returns the command, or an error
// whose text can be shown to the commenter as is.
//
// The body is split on white space and read as data: nothing passes
// through a shell, and quotes have no meaning.
func ParseComment(body string) (Command, bool, error) {
	words := strings.FieldsFunc(body, unicode.IsSpace)
	if len(words) == 0 || !strings.EqualFold(words[0], commandWord) {
		return Command{}, false, nil
	}
	if len(words) == 1 {
		return Command{}, true, errors.New("no command given")
	}
	name, args := strings.ToLower(words[1]), words[2:]
	switch name {
	case "help":
		if len(args) > 0 {
			return Command{}, true, fmt.Errorf("`help` takes no arguments")
		}
		return Command{Name: name}, true, nil
	case "plan":
		cmd, err := parsePlan(args)
		return cmd, true, err
	}
	return Command{}, true, fmt.Errorf("unknown command `%s`", truncateWord(words[1]))
}

func parsePlan(args []string) (Command, error) {
	if slices.Contains(args, "--") {
		return Command{}, errors.New("`plan`: extra tool arguments (after `--`) are not allowed on this server")
	}
	cmd := Command{Name: "plan"}
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cmd.Dir, "d", "", "")
	fs.StringVar(&cmd.Workspace, "w", "", "")
	if err := fs.Parse(args); err != nil {
		return Command{}, fmt.Errorf("`plan`: `%s`", truncateWord(err.Error()))
	}
	if rest := fs.Args(); len(rest) > 0 {
		return Command{}, fmt.Errorf("`plan`: unexpected argument `%s`", truncateWord(rest[0]))
	}
	if cmd.Dir != "" {
		dir, err := workflows.CleanDir(cmd.Dir)
		if err != nil {
			return Command{}, fmt.Errorf("`plan -d`: %v", err)
		}
		cmd.Dir = dir
	}
	if cmd.Workspace != "" {
		if err := workflows.ValidateWorkspace(cmd.Workspace); err != nil {
			return Command{}, fmt.Errorf("`plan -w`: %v", err)
		}
	}
	return cmd, nil
}

// truncateWord keeps user text that a reply quotes in a code span short
// and free of backticks, so that it can neither end the span nor, inside
// it, mention anyone.
func truncateWord(s string) string {
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

// usage is the reply to `atoll help` and to a command atoll cannot read.
//
// Like every comment atoll writes, it does not start with the command
// word, so atoll never reads its own comments as commands.
const usage = `**atoll** runs OpenTofu/Terraform for this pull request. Comment:

| command | does |
| --- | --- |
| ` + "`atoll plan`" + ` | plans every project this pull request changes |
| ` + "`atoll plan -d DIR`" + ` | plans the project in DIR, relative to the repository root |
| ` + "`atoll plan -d DIR -w WORKSPACE`" + ` | plans it in the workspace WORKSPACE (default: ` + "`default`" + `) |
| ` + "`atoll help`" + ` | shows this message |
`
