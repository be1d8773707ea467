package vcstest

import (
	"fmt"
	"hash/fnv"
	"html"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The fake's pages let a person look at what it holds in a browser, as at
// github.com: the repositories and their pull requests at /, and each
// pull request's conversation at /OWNER/REPO/pull/N, the html_url its
// payloads carry: every comment in order, atoll's Markdown rendered, and
// the statuses on its head. A page reloads itself when what it shows
// changes. Pages need no token.

// servePages answers the page requests that no other route takes.
func (g *GitHub) servePages(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.NotFound(w, r)
		return
	}
	if r.URL.Path == "/" {
		g.render(w, g.indexPage())
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 4 || parts[2] != "pull" {
		http.NotFound(w, r)
		return
	}
	n, err := strconv.Atoi(parts[3])
	if err != nil {
		http.NotFound(w, r)
		return
	}
	p, ok := g.pullPage(parts[0]+"/"+parts[1], n)
	if !ok {
		http.NotFound(w, r)
		return
	}
	g.render(w, p)
}

// page is what the template shows: an index or a pull request.
type page struct {
	Title   string
	Version string // changes when what the page shows does
	Repos   []repoEntry
	Pull    *pullView
}

type repoEntry struct {
	Name  string
	Pulls []Pull
}

type pullView struct {
	Pull
	State    string // open, closed or merged
	Entries  []entry
	Statuses []Status
}

// entry is a comment or a review, in the conversation's order.
type entry struct {
	Author string
	At     time.Time
	What   string        // "commented", "approved", …
	Body   template.HTML // rendered
	Edited bool
}

func (g *GitHub) indexPage() page {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := page{Title: "fake GitHub"}
	names := slices.Sorted(maps.Keys(g.repos))
	h := fnv.New64a()
	for _, name := range names {
		e := repoEntry{Name: name}
		for _, pr := range g.repos[name].pulls {
			e.Pulls = append(e.Pulls, pr.Pull)
			fmt.Fprint(h, name, pr.Number, pr.Open, pr.HeadSHA)
		}
		p.Repos = append(p.Repos, e)
	}
	p.Version = strconv.FormatUint(h.Sum64(), 36)
	return p
}

func (g *GitHub) pullPage(repo string, number int) (page, bool) {
	g.mu.Lock()
	st := g.statePullLocked(repo, number)
	if st == nil {
		g.mu.Unlock()
		return page{}, false
	}
	v := &pullView{Pull: st.Pull, State: "open"}
	switch {
	case st.merge != nil:
		v.State = "merged"
	case !st.Open:
		v.State = "closed"
	}
	h := fnv.New64a()
	fmt.Fprint(h, v.State, v.HeadSHA)
	for _, c := range g.comments {
		if c.repo == repo && c.number == number {
			v.Entries = append(v.Entries, entry{Author: c.Author, At: c.created, What: "commented", Body: renderHTML(c.Body), Edited: c.Edits > 0})
			fmt.Fprint(h, c.ID, c.Edits)
		}
	}
	for _, rv := range st.reviews {
		v.Entries = append(v.Entries, entry{Author: rv.user, At: rv.submitted, What: strings.ToLower(strings.ReplaceAll(rv.state, "_", " "))})
		fmt.Fprint(h, rv.id)
	}
	g.mu.Unlock()
	// Comments come in order; a review goes after the comments of its
	// second, as GitHub times both to the second.
	slices.SortStableFunc(v.Entries, func(a, b entry) int { return a.At.Compare(b.At) })
	v.Statuses = g.Statuses(repo, v.HeadSHA)
	for _, s := range v.Statuses {
		fmt.Fprint(h, s.Context, s.State, s.Description)
	}
	return page{Title: fmt.Sprintf("%s#%d", repo, number), Version: strconv.FormatUint(h.Sum64(), 36), Pull: v}, true
}

func (g *GitHub) render(w http.ResponseWriter, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTemplate.Execute(w, p); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// renderHTML renders a comment's Markdown (ParseMarkdown's subset) as
// HTML. All of its text is escaped first: a comment is the pull request
// author's to write, so none of its HTML reaches the page, and links
// keep their text but lose their targets.
func renderHTML(body string) template.HTML {
	inline := func(s string) string {
		return Inline(html.EscapeString(s),
			func(c string) string { return "<code>" + c + "</code>" },
			func(b string) string { return "<b>" + b + "</b>" })
	}
	var b strings.Builder
	open := 0
	for _, bl := range ParseMarkdown(body) {
		switch bl.Kind {
		case Heading:
			fmt.Fprintf(&b, "<h4>%s</h4>\n", inline(bl.Text))
		case Code:
			fmt.Fprintf(&b, "<pre>%s</pre>\n", html.EscapeString(strings.Join(bl.Lines, "\n")))
		case Table:
			b.WriteString("<table>\n")
			for i, row := range bl.Rows {
				cell := "td"
				if i == 0 {
					cell = "th"
				}
				b.WriteString("<tr>")
				for _, c := range row {
					fmt.Fprintf(&b, "<%s>%s</%s>", cell, inline(c), cell)
				}
				b.WriteString("</tr>\n")
			}
			b.WriteString("</table>\n")
		case Rule:
			b.WriteString("<hr>\n")
		case Fold:
			open++
			fmt.Fprintf(&b, "<details><summary>%s</summary>\n", inline(bl.Text))
		case Unfold:
			if open > 0 {
				open--
				b.WriteString("</details>\n")
			}
		default:
			if bl.Text != "" {
				fmt.Fprintf(&b, "<p>%s</p>\n", inline(bl.Text))
			}
		}
	}
	b.WriteString(strings.Repeat("</details>\n", open))
	return template.HTML(b.String())
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"mark": StatusMark,
	"when": func(t time.Time) string { return t.Format("15:04:05") },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="version" content="{{.Version}}">
<title>{{.Title}}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 56rem; margin: 1rem auto; padding: 0 1rem; color: #1f2328; }
.comment { border: 1px solid #d0d7de; border-radius: 6px; margin: 1rem 0; }
.head { background: #f6f8fa; border-bottom: 1px solid #d0d7de; padding: .4rem .8rem; color: #59636e; }
.body { padding: .2rem .8rem; }
.event { color: #59636e; margin: .6rem .8rem; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; font-size: 13px; }
table { border-collapse: collapse; } th, td { border: 1px solid #d0d7de; padding: .2rem .6rem; }
.success { color: #1a7f37; } .failure, .error { color: #d1242f; } .pending { color: #9a6700; }
.state { border-radius: 1rem; padding: .1rem .6rem; color: #fff; background: #1a7f37; }
.state.merged { background: #8250df; } .state.closed { background: #d1242f; }
</style>
</head>
<body>
{{with .Pull}}
<p><a href="/">fake GitHub</a> / {{.Repo}}</p>
<h2>Pull request #{{.Number}} <span class="state {{.State}}">{{.State}}</span></h2>
<p>{{.Author}} wants to merge <code>{{.Branch}}</code> into <code>main</code> · head <code>{{printf "%.7s" .HeadSHA}}</code></p>
{{range .Entries}}{{if .Body}}
<div class="comment"><div class="head"><b>{{.Author}}</b> {{.What}} at {{when .At}}{{if .Edited}} · edited{{end}}</div><div class="body">{{.Body}}</div></div>
{{else}}
<p class="event"><b>{{.Author}}</b> {{.What}} these changes at {{when .At}}</p>
{{end}}{{end}}
<h3>Statuses on {{printf "%.7s" .HeadSHA}}</h3>
{{range .Statuses}}<div class="{{.State}}">{{mark .State}} <b>{{.Context}}</b> — {{.Description}}</div>
{{else}}<p>None yet.</p>{{end}}
{{else}}
<h2>fake GitHub</h2>
{{range .Repos}}<h3>{{.Name}}</h3><ul>
{{range .Pulls}}<li><a href="/{{.Repo}}/pull/{{.Number}}">#{{.Number}}</a> {{.Branch}} by {{.Author}}{{if not .Open}} (closed){{end}}</li>
{{else}}<li>No pull requests.</li>{{end}}</ul>
{{end}}
{{end}}
<script>
// Reload when what the page shows has changed.
const version = document.querySelector('meta[name=version]').content;
setInterval(async () => {
  try {
    const text = await (await fetch(location.href, {cache: 'no-store'})).text();
    const m = text.match(/<meta name="version" content="([^"]*)">/);
    if (m && m[1] !== version) location.reload();
  } catch (e) {}
}, 2000);
</script>
</body>
</html>
`))
