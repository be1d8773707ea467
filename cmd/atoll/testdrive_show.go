package main

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs/vcstest"
)

// screen is what a testdrive prints: the story's narration, and what
// atoll leaves on the forge — comments rendered as text, statuses as
// ✓/✗/… lines — as it appears. Its methods are safe for concurrent use.
type screen struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
	// shown holds, by comment id, how many edits of it were printed;
	// statuses, by commit and context, the state and description last
	// printed.
	shown    map[int64]int
	statuses map[[2]string]string
	last     *shownComment // the last answer printed in full
	prompt   string        // redrawn after output while a prompt shows
}

// shownComment is an atoll comment as last printed.
type shownComment struct {
	number int
	body   string
}

func newScreen(w io.Writer, color bool) *screen {
	return &screen{w: w, color: color, shown: map[int64]int{}, statuses: map[[2]string]string{}}
}

// ANSI styles, used only when the output is a terminal.
const (
	bold   = "\x1b[1m"
	dim    = "\x1b[2m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	cyan   = "\x1b[36m"
	reset  = "\x1b[0m"
)

// paint styles s when the screen has colour.
func (s *screen) paint(style, text string) string {
	if !s.color || text == "" {
		return text
	}
	return style + text + reset
}

// printf writes a line, taking the place of a prompt that shows and
// drawing it again after. The caller holds mu.
func (s *screen) printf(format string, args ...any) {
	if s.prompt != "" {
		fmt.Fprint(s.w, "\r\x1b[K")
	}
	fmt.Fprintf(s.w, format+"\n", args...)
	if s.prompt != "" {
		fmt.Fprint(s.w, s.prompt)
	}
}

func (s *screen) intro(dr *drive) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.printf("%s", s.paint(bold, "atoll testdrive: a pull request's life with atoll, on this machine alone"))
	s.printf("")
	s.printf("  forge  %s/  a local GitHub: open it in a browser to read the pull requests", dr.gh.URL())
	s.printf("         the repository %s: modules/tags is a module that stacks/app and", sampleRepo)
	s.printf("         stacks/network use; stacks/dns uses none")
	s.printf("  atoll  http://%s/  its web UI: jobs with their output, and locks; its log: %s", dr.addr, dr.logPath)
	s.printf("  tool   %s", dr.tool)
}

func (s *screen) step(n int, title string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.printf("")
	s.printf("%s", s.paint(bold, fmt.Sprintf("%d. %s", n, title)))
}

// say prints a line of narration.
func (s *screen) say(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.printf(format, args...)
}

// act prints what a person did.
func (s *screen) act(who, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.printf("  %s %s", s.paint(cyan, who), fmt.Sprintf(format, args...))
}

// delivered prints how atoll answered a webhook.
func (s *screen) delivered(event string, d vcstest.Delivery) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.printf("  %s", s.paint(dim, fmt.Sprintf("webhook %s → atoll answered %d %s", event, d.Status, strings.TrimSpace(d.Body))))
}

func (s *screen) firstPlan(d time.Duration) {
	s.say("  %s", s.paint(dim, fmt.Sprintf("(the first plan was on the pull request %.1fs after the testdrive started)", d.Seconds())))
}

func (s *screen) failed(err error) {
	s.say("%s %v", s.paint(red, "✗ the testdrive went wrong:"), err)
}

// logTail prints the last n lines of the server's log, which the
// testdrive removes when it ends.
func (s *screen) logTail(path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		s.say("atoll's log: %v", err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	s.say("The last lines of atoll's log:")
	for _, l := range lines[max(0, len(lines)-n):] {
		s.say("  %s", l)
	}
}

func (s *screen) storyDone(dr *drive) {
	s.say("")
	s.say("%s", s.paint(green, fmt.Sprintf("✓ every step did what it should, in %.1fs.", time.Since(dr.started).Seconds())))
}

// poll prints what atoll left on the forge since the last poll: new
// comments and edits on every pull request, and status changes on their
// heads.
func (s *screen) poll(dr *drive) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := 1; ; n++ {
		pr := dr.gh.Pull(sampleRepo, n)
		if pr.Number == 0 {
			return
		}
		for _, c := range dr.gh.Comments(sampleRepo, n) {
			if edits, ok := s.shown[c.ID]; ok && edits == c.Edits {
				continue
			}
			s.shown[c.ID] = c.Edits
			s.printComment(n, c)
		}
		for _, st := range dr.gh.Statuses(sampleRepo, pr.HeadSHA) {
			key, now := [2]string{pr.HeadSHA, st.Context}, st.State+"\x00"+st.Description
			if s.statuses[key] == now {
				continue
			}
			s.statuses[key] = now
			s.printStatus(st)
		}
	}
}

// printComment prints an atoll comment on pull request number: one that
// says a job runs on one line, an answer whole, its collapsed blocks
// folded. The caller holds mu.
func (s *screen) printComment(number int, c vcstest.Comment) {
	if !report.Answers(c.Body) {
		first, _, _ := strings.Cut(c.Body, "\n")
		s.printf("  %s %s", s.paint(dim, fmt.Sprintf("%s on #%d:", c.Author, number)), s.inline(first))
		return
	}
	s.printf("  %s", s.paint(bold, fmt.Sprintf("%s on #%d:", c.Author, number)))
	s.printBody(s.render(c.Body, false))
	s.last = &shownComment{number: number, body: c.Body}
}

// printBody prints a rendered comment's lines behind a bar. The caller
// holds mu.
func (s *screen) printBody(lines []string) {
	for _, l := range lines {
		s.printf("%s", strings.TrimRight("  "+s.paint(dim, "│")+" "+l, " "))
	}
}

// printStatus prints a commit status as a ✓, ✗ or … line. The caller
// holds mu.
func (s *screen) printStatus(st vcstest.Status) {
	colour := yellow
	switch st.State {
	case "success":
		colour = green
	case "failure", "error":
		colour = red
	}
	s.printf("  %s %s  %s", s.paint(colour, vcstest.StatusMark(st.State)), st.Context, s.paint(dim, st.Description))
}

// showPrompt shows prompt p after what is printed, or none when p is "".
func (s *screen) showPrompt(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prompt = p
	fmt.Fprint(s.w, p)
}

// showLast prints the last answer in full, collapsed blocks open.
func (s *screen) showLast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.printf("atoll has not answered anything yet.")
		return
	}
	s.printf("  %s", s.paint(bold, fmt.Sprintf("atoll's last answer, on #%d, in full:", s.last.number)))
	s.printBody(s.render(s.last.body, true))
}

// showStatuses prints pr's statuses as they stand.
func (s *screen) showStatuses(dr *drive, pr vcstest.Pull) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sts := dr.gh.Statuses(pr.Repo, pr.HeadSHA)
	if len(sts) == 0 {
		s.printf("#%d's head %.7s has no status yet.", pr.Number, pr.HeadSHA)
	}
	for _, st := range sts {
		s.printStatus(st)
	}
}

var (
	htmlTag = regexp.MustCompile(`</?[a-z]+[^>]*>`)
)

// render turns a comment's Markdown into lines for a terminal: headings
// bold, tables aligned, code blocks indented, folded blocks shown as
// their summary unless expand.
func (s *screen) render(body string, expand bool) []string {
	var out []string
	blocks := vcstest.ParseMarkdown(body)
	for i := 0; i < len(blocks); i++ {
		switch b := blocks[i]; b.Kind {
		case vcstest.Table:
			out = append(out, s.table(b.Rows)...)
		case vcstest.Code:
			for _, l := range b.Lines {
				out = append(out, "    "+l)
			}
		case vcstest.Fold:
			if expand {
				out = append(out, s.paint(dim, "▾ "+b.Text))
				continue
			}
			hidden := 0
			for i++; i < len(blocks) && blocks[i].Kind != vcstest.Unfold; i++ {
				for _, l := range append(blocks[i].Lines, blocks[i].Text) {
					if l != "" {
						hidden++
					}
				}
			}
			out = append(out, s.paint(dim, fmt.Sprintf("▸ %s: %d lines, folded (type show to see them)", b.Text, hidden)))
		case vcstest.Unfold:
		case vcstest.Rule:
			out = append(out, "")
		case vcstest.Heading:
			out = append(out, s.paint(bold, s.inline(b.Text)))
		default:
			out = append(out, s.inline(b.Text))
		}
	}
	// One blank line at most between paragraphs.
	var squeezed []string
	for i, l := range out {
		if l == "" && (i == 0 || out[i-1] == "") {
			continue
		}
		squeezed = append(squeezed, l)
	}
	return squeezed
}

// inline renders a line's inline Markdown: emphasis, code and links.
func (s *screen) inline(l string) string {
	return vcstest.Inline(htmlTag.ReplaceAllString(l, ""),
		func(c string) string { return s.paint(cyan, c) },
		func(b string) string { return s.paint(bold, b) })
}

// table aligns a table's columns.
func (s *screen) table(rows [][]string) []string {
	var widths []int
	for _, row := range rows {
		for i, c := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], cellWidth(plain(c)))
		}
	}
	out := make([]string, len(rows))
	for i, row := range rows {
		var b strings.Builder
		for j, c := range row {
			b.WriteString(plain(c))
			if j < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[j]-cellWidth(plain(c))+2))
			}
		}
		out[i] = strings.TrimRight(b.String(), " ")
		if i == 0 {
			out[i] = s.paint(bold, out[i])
		}
	}
	return out
}

// plain is a table cell without its code marks, which would break the
// columns' alignment if painted.
func plain(cell string) string { return strings.ReplaceAll(cell, "`", "") }

// cellWidth is how many columns a terminal gives s: the emoji atoll's
// tables use take two, variation selectors none.
func cellWidth(s string) int {
	w := 0
	for _, r := range s {
		switch {
		case r == 0xFE0F:
		case r >= 0x1F000, r >= 0x2600 && r <= 0x27BF, r >= 0x23E9 && r <= 0x23FA:
			w += 2
		default:
			w++
		}
	}
	return w
}
