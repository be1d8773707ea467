package runner

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/atoll-iac/atoll/runner/joblog"
	"github.com/atoll-iac/atoll/runner/report"
	"github.com/atoll-iac/atoll/vcs"
	"github.com/atoll-iac/atoll/workflows"
)

// How a job's live output is written to its log: gathered for a short
// while, or until there is enough, so that a chatty tool costs the store
// a few writes a second, not one a line.
const (
	outputDelay = 250 * time.Millisecond
	outputBatch = 32 << 10
)

// jobOutput is a job's output as its steps write it, kept in its log
// (joblog.Store.Append) for readers following the job. Writing never
// waits on the store: what is written is gathered and sent by a
// goroutine, in order, so a slow store cannot stall the tool. A store
// that fails costs the job nothing but its log: the failure is logged
// once.
type jobOutput struct {
	store joblog.Store
	id    string
	log   *slog.Logger

	mu     sync.Mutex
	buf    bytes.Buffer
	timer  *time.Timer
	failed bool
	// sending is held while gathered output goes to the store, so that
	// it goes in order.
	sending sync.Mutex
}

func newJobOutput(store joblog.Store, id string, log *slog.Logger) *jobOutput {
	return &jobOutput{store: store, id: id, log: log}
}

func (o *jobOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.buf.Len() < joblog.MaxOutput {
		// More would be cut by the store anyway.
		o.buf.Write(p)
	}
	switch {
	case o.buf.Len() >= outputBatch:
		if o.timer != nil {
			o.timer.Stop()
			o.timer = nil
		}
		go o.flush()
	case o.timer == nil:
		o.timer = time.AfterFunc(outputDelay, o.flush)
	}
	return len(p), nil
}

// Close sends what is gathered, and waits until it is sent.
func (o *jobOutput) Close() error {
	o.flush()
	return nil
}

// flush sends what is gathered to the store.
func (o *jobOutput) flush() {
	o.sending.Lock()
	defer o.sending.Unlock()
	o.mu.Lock()
	if o.timer != nil {
		o.timer.Stop()
		o.timer = nil
	}
	chunk := bytes.Clone(o.buf.Bytes())
	o.buf.Reset()
	o.mu.Unlock()
	if len(chunk) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.store.Append(ctx, o.id, chunk); err != nil {
		o.mu.Lock()
		defer o.mu.Unlock()
		if !o.failed {
			o.failed = true
			o.log.Warn("keeping the job's output in its log", "err", err)
		}
	}
}

// outputPrefix is what goes before each line of output of the project in
// dir: its directory, as a job's projects may run at once, and nothing
// for the repository's root.
func outputPrefix(dir string) string {
	if dir == "." || dir == "" {
		return ""
	}
	return dir + " │ "
}

// prefixed writes whole lines to w, each behind prefix: the project the
// output is of, as a job's projects may run at once.
type prefixed struct {
	w      io.Writer
	prefix string
}

func (p prefixed) Write(b []byte) (int, error) {
	var out strings.Builder
	for line := range strings.Lines(string(b)) {
		out.WriteString(p.prefix)
		out.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			out.WriteByte('\n')
		}
	}
	_, err := io.WriteString(p.w, out.String())
	return len(b), err
}

// Queued records in the runner's job log, if it keeps one, that the job
// of o was queued: what it will do and for whom. A failure is logged:
// the job runs all the same, and its record is made when it starts.
func (r *Runner) Queued(ctx context.Context, o Order) {
	if r.jobs == nil {
		return
	}
	if err := r.jobs.Create(ctx, r.record(o, joblog.Queued)); err != nil {
		r.log.Warn("recording a queued job", "job", o.JobID, "err", err)
	}
}

// record is the record of o's job, in state.
func (r *Runner) record(o Order, state joblog.State) joblog.Record {
	ev := o.Event
	if o.Run != nil {
		return joblog.Record{
			ID: o.JobID, Forge: o.Forge, Repo: ev.Repo.FullName, Ref: o.Run.Ref,
			Command: o.Run.Command, User: o.Operator, State: state, Created: time.Now().UTC(),
		}
	}
	cmd, _, err := workflows.ParseComment(ev.Comment.Body, r.policy.AllowedExtraArgs)
	user := cmp.Or(o.Operator, ev.Comment.Author, ev.Pull.Author)
	if ev.Type != vcs.CommentCreated {
		user = ev.Pull.Author
	}
	return joblog.Record{
		ID: o.JobID, Forge: o.Forge, Repo: ev.Repo.FullName, Pull: ev.Pull.Number,
		Command: jobKind(ev.Type, cmd, err), User: user, State: state, Created: time.Now().UTC(),
	}
}

// started notes in the job's log that it runs, making its record if its
// queueing did not, and sets up its output.
func (j *Job) started(o Order) {
	if j.r.jobs == nil {
		return
	}
	j.output = newJobOutput(j.r.jobs, j.ID, j.Log)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := time.Now().UTC()
	_, err := j.r.jobs.Update(ctx, j.ID, func(r *joblog.Record) {
		r.State, r.Started, r.Ended = joblog.Running, now, time.Time{}
	})
	if errors.Is(err, joblog.ErrNotFound) {
		rec := j.r.record(o, joblog.Running)
		rec.Started = now
		err = j.r.jobs.Create(ctx, rec)
	}
	if err != nil {
		j.Log.Warn("recording that the job runs", "err", err)
	}
}

// say adds text, redacted, to the job's output, if the runner keeps a
// job log: what a job on no pull request says instead of commenting.
func (j *Job) say(text string) {
	if j.output == nil {
		return
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	io.WriteString(j.output, j.r.redact.Redact(text))
}

// noteProjects keeps the projects results are of, for the job's record:
// "dir", or "dir/workspace" for a workspace other than default.
func (j *Job) noteProjects(results []report.Result) {
	for _, r := range results {
		name := r.Project.Dir
		if ws := r.Project.Workspace; ws != "" && ws != workflows.DefaultWorkspace {
			name += "/" + ws
		}
		if !slices.Contains(j.projects, name) {
			j.projects = append(j.projects, name)
		}
	}
}

// logState notes in the job's log how it ended (or that it stopped, to
// run again).
func (j *Job) logState(state joblog.State) {
	if j.r.jobs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := j.r.jobs.Update(ctx, j.ID, func(r *joblog.Record) {
		r.State = state
		if len(j.projects) > 0 {
			r.Projects = j.projects
		}
		if state.Ended() {
			r.Ended = time.Now().UTC()
		}
	})
	if err != nil {
		j.Log.Warn("recording how the job ended", "state", state, "err", err)
	}
}
