// Package joblog owns what atoll keeps of each job for operators to read
// after the pull request's comment: a Record (what ran, for whom, how it
// ended) and its output as the job's steps wrote it, already redacted,
// kept across restarts and shared by replicas, size-capped, and
// forgotten after a retention period. Its backends are bbolt (one
// process) and Redis (replicas); both pass the shared suite in
// runner/joblog/joblogtest.
package joblog

import (
	"context"
	"errors"
	"time"
)

// State is where a job stands.
type State string

// A job is queued until a worker takes it, running until it ends, then
// one of the outcomes runner.Observer hears.
const (
	Queued      State = "queued"
	Running     State = "running"
	Succeeded   State = "succeeded"
	Failed      State = "failed"
	Refused     State = "refused"
	Errored     State = "error"
	Interrupted State = "interrupted"
)

// Ended reports whether s is an outcome: the job will write no more.
// Interrupted is not: the job runs again.
func (s State) Ended() bool {
	switch s {
	case Succeeded, Failed, Refused, Errored:
		return true
	}
	return false
}

// Record is what is kept of one job. Forge, Repo, Pull, Ref, Command
// and User are set when it is created and do not change.
type Record struct {
	ID    string
	Forge string
	Repo  string
	// Pull is the pull request the job ran on; 0 for a job run on a
	// commit of the repository (Ref) instead, through atoll's API.
	Pull int
	// Ref, of a job run on no pull request, is the branch, tag or commit
	// asked for.
	Ref     string `json:",omitempty"`
	Command string // autoplan, close, plan, apply, unlock, …
	User    string
	State   State
	Created time.Time // when the job was queued
	Started time.Time // zero until a worker took it; the latest run's start
	Ended   time.Time // zero until State is an outcome
	// Size is the output's length in bytes as kept (at most MaxOutput).
	Size int64
	// Projects are the projects the job ran, as "dir" or
	// "dir/workspace" when the workspace is not default, once known.
	Projects []string `json:",omitempty"`
}

// Took is how long the job ran, once it has ended; 0 before.
func (r Record) Took() time.Duration {
	if r.Ended.IsZero() || r.Started.IsZero() {
		return 0
	}
	return r.Ended.Sub(r.Started)
}

// MaxOutput is the most output kept of one job: past it, the output
// keeps its first MaxOutput-len(Truncated) bytes and ends with a note
// (Truncated) saying the rest was cut.
const MaxOutput = 4 << 20

// Truncated ends the kept output of a job that wrote more than MaxOutput.
const Truncated = "\n[atoll: output cut here: it was longer than 4 MiB]\n"

// ErrNotFound is returned for a job the store does not hold (never
// created, or forgotten after the retention period).
var ErrNotFound = errors.New("joblog: no such job")

// Store keeps job records and their output. Implementations are safe for
// concurrent use by the replicas that share them; the record of one job
// is written by one replica at a time (the one running it).
type Store interface {
	// Create records a new job, in State Queued unless r says otherwise,
	// to be forgotten retention after its last change. A job of r.ID
	// held already (not expired) is kept as it is, output and all: the
	// server's record of a job queued and the worker's of the job
	// started may come in either order.
	Create(ctx context.Context, r Record) error
	// Update changes job id's record: change is given the record as held
	// and may change its State, Started, Ended and Projects (other fields
	// are kept as created). ErrNotFound when there is none.
	Update(ctx context.Context, id string, change func(*Record)) (Record, error)
	// Append adds p to job id's output, up to MaxOutput in all (then
	// Truncated, once). ErrNotFound when there is no such job.
	Append(ctx context.Context, id string, p []byte) error
	// Get returns job id's record; ErrNotFound when there is none.
	Get(ctx context.Context, id string) (Record, error)
	// Output returns job id's output from byte offset on, at most max
	// bytes, and the record as it stood when read, so that a reader
	// following a running job knows when no more will come (State.Ended).
	Output(ctx context.Context, id string, offset int64, max int) ([]byte, Record, error)
	// List returns the records of the newest jobs first, at most limit,
	// of repository repo only when repo is not "".
	List(ctx context.Context, repo string, limit int) ([]Record, error)
}
