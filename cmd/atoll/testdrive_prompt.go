package main

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

const promptHelp = `Type what you would do on the forge:
  atoll …      comment on your pull request, as you: atoll plan -d stacks/app,
               atoll apply, atoll unlock, atoll help
  approve      have bob approve your pull request (apply needs an approval)
  edit FILE    change a file of your pull request's working copy in $EDITOR
  push         push the working copy's changes to your pull request
  merge        merge your pull request
  new          open a new pull request with the working copy's changes
  status       show the statuses on your pull request's head
  show         show atoll's last answer in full
  help         show this
  quit         stop everything and remove what the testdrive made (or Ctrl-C)`

// prompt takes the reader's commands from in until they quit, in closes
// or the drive is stopped. What atoll does meanwhile is printed as it
// happens.
func (dr *drive) prompt(in io.Reader) {
	dr.work = filepath.Join(dr.t.dir, "work")
	if err := dr.writeWork(); err != nil {
		dr.out.say("atoll testdrive: %v", err)
		return
	}
	dr.out.say("")
	dr.out.say("%s", dr.out.paint(bold, fmt.Sprintf("Your turn. Your pull request is #%d: %s/%s/pull/%d", dr.pull.Number, dr.gh.URL(), sampleRepo, dr.pull.Number)))
	dr.out.say("Its working copy, for edit and push, is %s.", dr.work)
	dr.out.say("%s", promptHelp)

	lines, more := make(chan string), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(in)
		for range more {
			if !sc.Scan() {
				close(lines)
				return
			}
			lines <- sc.Text()
		}
	}()
	defer close(more)
	for {
		dr.out.showPrompt("atoll testdrive> ")
		more <- struct{}{}
		var line string
		var ok bool
		select {
		case <-dr.t.ctx.Done():
			dr.out.showPrompt("")
			dr.out.say("")
			return
		case line, ok = <-lines:
		}
		dr.out.showPrompt("")
		if !ok || !dr.command(strings.TrimSpace(line)) {
			return
		}
	}
}

// command does what line asks and reports whether to go on.
func (dr *drive) command(line string) bool {
	word, rest, _ := strings.Cut(line, " ")
	var err error
	switch word {
	case "":
	case "quit", "exit":
		return false
	case "help", "?":
		dr.out.say("%s", promptHelp)
	case "atoll", "atlantis":
		err = dr.t.do(func() { dr.commentAsync(line) })
	case "approve":
		err = dr.t.do(func() { dr.approve(dr.pull) })
	case "edit":
		err = dr.edit(strings.TrimSpace(rest))
	case "push":
		err = dr.push()
	case "merge":
		err = dr.merge()
	case "new":
		err = dr.newPull()
	case "status":
		dr.out.showStatuses(dr, dr.pull)
	case "show":
		dr.out.showLast()
	default:
		err = fmt.Errorf("%q is not a testdrive command; type help", word)
	}
	if err != nil {
		dr.out.say("%v", err)
	}
	return true
}

// commentAsync posts body as your comment on your pull request and
// tells atoll; its answer is printed when it comes.
func (dr *drive) commentAsync(body string) {
	if !dr.pull.Open {
		dr.t.Fatalf("pull request #%d is closed: type new to open another", dr.pull.Number)
	}
	dr.out.act(you, "comment on #%d: %s", dr.pull.Number, body)
	dr.out.delivered("issue_comment created", dr.gh.SendPullComment(dr.t, dr.events, dr.pull, you, body))
}

// edit opens file of the working copy in the reader's editor.
func (dr *drive) edit(file string) error {
	if file == "" {
		return errors.New("edit which file? For example: edit stacks/app/main.tf")
	}
	path := filepath.Join(dr.work, filepath.FromSlash(file))
	if rel, err := filepath.Rel(dr.work, path); err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("%s is not in the working copy", file)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	visual, _ := dr.getenv("VISUAL")
	editor, _ := dr.getenv("EDITOR")
	editor = cmp.Or(visual, editor)
	for _, e := range []string{"vi", "nano"} {
		if editor != "" {
			break
		}
		if _, err := exec.LookPath(e); err == nil {
			editor = e
		}
	}
	if editor == "" {
		return fmt.Errorf("no editor ($EDITOR is unset): change %s in another window, then type push", path)
	}
	cmd := exec.CommandContext(dr.t.ctx, "sh", "-c", editor+` "$1"`, "editor", path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v", editor, err)
	}
	dr.out.say("Type push to push your change to #%d, or new to open a pull request with it.", dr.pull.Number)
	return nil
}

// push pushes the working copy's changes to your pull request.
func (dr *drive) push() error {
	if !dr.pull.Open {
		return fmt.Errorf("pull request #%d is closed: type new to open one with your changes", dr.pull.Number)
	}
	changes, err := dr.changes(dr.files)
	if err != nil || len(changes) == 0 {
		return cmp.Or(err, errors.New("nothing to push: the working copy is as the pull request's head (type edit FILE)"))
	}
	return dr.t.do(func() {
		pr := dr.gh.PushToPull(dr.t, sampleRepo, dr.pull.Number, changes)
		dr.out.act(you, "push to #%d: %s", pr.Number, strings.Join(slices.Sorted(maps.Keys(changes)), ", "))
		dr.pull, dr.files = pr, withChanges(dr.files, changes)
		dr.out.delivered("pull_request synchronize", dr.gh.SendPullRequest(dr.t, dr.events, "synchronize", pr))
	})
}

// merge merges your pull request.
func (dr *drive) merge() error {
	if !dr.pull.Open {
		return fmt.Errorf("pull request #%d is closed already", dr.pull.Number)
	}
	return dr.t.do(func() {
		pr := dr.gh.Merge(dr.t, sampleRepo, dr.pull.Number, you)
		dr.out.act(you, "merge pull request #%d into main", pr.Number)
		dr.pull, dr.main = pr, dr.files
		dr.out.delivered("pull_request closed", dr.gh.SendPullRequest(dr.t, dr.events, "closed", pr))
	})
}

// newPull opens a pull request with the working copy's changes to main.
func (dr *drive) newPull() error {
	changes, err := dr.changes(dr.main)
	if err != nil || len(changes) == 0 {
		return cmp.Or(err, errors.New("nothing to propose: the working copy is as main (type edit FILE first)"))
	}
	return dr.t.do(func() {
		dr.openPull(changes, strings.Join(slices.Sorted(maps.Keys(changes)), ", "))
	})
}

// writeWork writes the working copy: the files of your pull request.
func (dr *drive) writeWork() error {
	for name, content := range dr.files {
		path := filepath.Join(dr.work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// changes returns the working copy's files that differ from base. A file
// removed from the working copy is an error: the testdrive's forge takes
// new and changed files only.
func (dr *drive) changes(base map[string]string) (map[string]string, error) {
	changes, seen := map[string]string{}, map[string]bool{}
	err := filepath.WalkDir(dr.work, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dr.work, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), ".") || strings.HasSuffix(d.Name(), "~") {
			return nil // an editor's swap or backup file
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		seen[name] = true
		if old, ok := base[name]; !ok || old != string(b) {
			changes[name] = string(b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for name := range base {
		if !seen[name] {
			return nil, fmt.Errorf("%s is gone from the working copy: the testdrive pushes new and changed files only; put it back", name)
		}
	}
	return changes, nil
}
