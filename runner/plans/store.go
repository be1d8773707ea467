package plans

import (
	"context"
	"errors"
	"slices"
)

// Pull is a pull request whose plans a Store keeps.
type Pull struct {
	// Forge names the forge the repository is on ("github", "gitlab").
	Forge string
	// Repo is the repository's full name ("owner/name", "group/sub/name").
	Repo   string
	Number int
}

// Files are where, on this machine, the files of one plan are: the tool
// writes them there, and an apply reads them there.
type Files struct {
	// Plan is the plan file (tofu plan -out).
	Plan string
	// Show is the plan as JSON (tofu show -json), for custom steps.
	Show string
}

// Store keeps the plans of pull requests: a record of each project's
// latest plan, the plan files an apply needs, and the comments that
// showed them. Implementations are safe for concurrent use; a pull
// request's jobs take turns, so no two change its records at once.
type Store interface {
	// Files are where the files of rec's plan are on this machine; an
	// error for a repository or workspace name that could lead outside
	// the store.
	Files(pull Pull, rec Record) (Files, error)
	// SaveRecord stores rec, replacing the record of the same workspace
	// and key.
	SaveRecord(ctx context.Context, pull Pull, rec Record) error
	// Records lists the pull request's records, ordered by workspace,
	// directory and name.
	Records(ctx context.Context, pull Pull) ([]Record, error)
	// UpdateRecords changes the pull request's records: change returns
	// whether it changed the record it is given. It returns the records
	// changed, as they are now. The records are read and written in one
	// step: one saved meanwhile (another pull request's apply marks this
	// one's plans stale while its own job saves a new plan) is never
	// overwritten; change may then be called again, on it.
	UpdateRecords(ctx context.Context, pull Pull, change func(*Record) bool) ([]Record, error)
	// Discard deletes the pull request's records and plan files, and
	// returns the records.
	Discard(ctx context.Context, pull Pull) ([]Record, error)
	// Keep makes the plan file of rec, planned here, available to its
	// apply wherever it runs, with lock, the dependency lock file its
	// init left (nil for none). It fails with an error wrapping
	// ErrPlanTooLarge for files larger than the store keeps.
	Keep(ctx context.Context, pull Pull, rec Record, lock []byte) error
	// Fetch puts the plan file of rec in place at its Files, from where
	// Keep kept it, and returns the lock file kept with it, if any
	// (Local keeps none: the checkout still has it). ErrNoPlanFile when
	// there is no such plan file.
	Fetch(ctx context.Context, pull Pull, rec Record) (lock []byte, err error)
	// Drop deletes the plan file of rec, here and where Keep kept it.
	Drop(ctx context.Context, pull Pull, rec Record) error
	// Shared reports whether plans are kept for every replica: a plan
	// may then have been made in another checkout than its apply's.
	Shared() bool
	// SwapComments records ids as the pull request's latest plan
	// comments, and returns those recorded before; nil ids forgets them.
	// Discard keeps them.
	SwapComments(ctx context.Context, pull Pull, ids []int64) ([]int64, error)
	// Comments returns the pull request's latest plan comments, as
	// SwapComments recorded them.
	Comments(ctx context.Context, pull Pull) ([]int64, error)
	// Pulls lists, in order, the numbers of the pull requests of repo on
	// forge that have records: those whose plans another's apply can
	// make stale.
	Pulls(ctx context.Context, forge, repo string) ([]int, error)
}

// ErrNoPlanFile says a plan file is not (any more) in the store.
var ErrNoPlanFile = errors.New("plans: no such plan file")

// ErrPlanTooLarge is wrapped by the error for a plan file larger than a
// Store keeps; that error's text can be shown to users.
var ErrPlanTooLarge = errors.New("plan file too large to share")

// Find returns the record of key k in workspace ws of the pull request.
func Find(ctx context.Context, s Store, pull Pull, ws string, k Key) (Record, bool, error) {
	recs, err := s.Records(ctx, pull)
	if err != nil {
		return Record{}, false, err
	}
	i := slices.IndexFunc(recs, func(r Record) bool { return r.Workspace == ws && r.Key() == k })
	if i < 0 {
		return Record{}, false, nil
	}
	return recs[i], true, nil
}

// updateEach lets change change each of recs, saves those it changed with
// save, and returns them as they are now.
func updateEach(recs []Record, change func(*Record) bool, save func(Record) error) ([]Record, error) {
	var changed []Record
	for _, rec := range recs {
		if !change(&rec) {
			continue
		}
		if err := save(rec); err != nil {
			return changed, err
		}
		changed = append(changed, rec)
	}
	return changed, nil
}
