package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/atoll-iac/atoll/runner"
	"github.com/atoll-iac/atoll/runner/joblog"
	"github.com/atoll-iac/atoll/workflows"
)

// The JSON API, under /api/, for scripts: what the web UI shows, with a
// token instead of a password. It is off unless Config.APISecret is set;
// every request must then carry it as "Authorization: Bearer SECRET".
// Errors are JSON too: {"error": "what went wrong"}.

// maxAPIBody bounds what an API request may send.
const maxAPIBody = 64 << 10

// routeAPI adds the API to mux.
func (s *Server) routeAPI(mux *http.ServeMux, secret string) {
	want := sha256.Sum256([]byte(secret))
	auth := func(next http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			// Hashed first: the comparison then takes as long whatever the
			// length of what was sent.
			got := sha256.Sum256([]byte(token))
			if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="atoll"`)
				apiError(w, http.StatusUnauthorized, "this API needs the server's API secret, as Authorization: Bearer SECRET")
				return
			}
			next(w, r)
		})
	}
	mux.Handle("GET /api/locks", auth(s.apiLocks))
	mux.Handle("POST /api/unlock", auth(s.apiUnlock))
	mux.Handle("GET /api/jobs", auth(s.apiJobs))
	mux.Handle("GET /api/jobs/{id}", auth(s.apiJob))
	mux.Handle("POST /api/plan", auth(s.apiRun("plan")))
	mux.Handle("POST /api/apply", auth(s.apiRun("apply")))
	mux.Handle("GET /api/drift", auth(s.apiDrift))
	mux.Handle("/api/", auth(func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
	}))
}

// apiLock is a held lock as the API gives it, with its line.
type apiLock struct {
	Forge     string     `json:"forge"`
	Repo      string     `json:"repo"`
	Dir       string     `json:"dir"`
	Workspace string     `json:"workspace"`
	Pull      int        `json:"pull"`
	User      string     `json:"user"`
	Since     time.Time  `json:"since"`
	Expires   *time.Time `json:"expires,omitempty"`
	// Turn is set on a lock handed to the first in its line, whose plan
	// has yet to take it.
	Turn    bool        `json:"turn,omitempty"`
	Waiting []apiWaiter `json:"waiting,omitempty"`
}

// apiFreeKey is a key free for a moment, whose line has yet to get it,
// as the API gives it: a lock with no pull, user or since.
type apiFreeKey struct {
	Forge     string      `json:"forge"`
	Repo      string      `json:"repo"`
	Dir       string      `json:"dir"`
	Workspace string      `json:"workspace"`
	Free      bool        `json:"free"`
	Waiting   []apiWaiter `json:"waiting"`
}

// apiWaiter is a pull request in a line as the API gives it: Since is
// when it joined, Place counts from 1.
type apiWaiter struct {
	Pull  int       `json:"pull"`
	User  string    `json:"user"`
	Since time.Time `json:"since"`
	Place int       `json:"place"`
}

// apiLocks answers the locks held, newest first, each with its line,
// then the keys free for a moment with a line; of ?repo= when given.
func (s *Server) apiLocks(w http.ResponseWriter, r *http.Request) {
	locks, err := s.lockLines(r.Context(), strings.TrimSpace(r.URL.Query().Get("repo")))
	if err != nil {
		s.log.Error("api: listing locks", "err", err)
		apiError(w, http.StatusServiceUnavailable, "the lock store does not answer")
		return
	}
	out := []any{}
	for _, l := range locks {
		var waiting []apiWaiter
		for _, wt := range l.Waiting {
			waiting = append(waiting, apiWaiter{Pull: wt.Pull, User: wt.User, Since: wt.Time, Place: wt.Place})
		}
		if l.Free {
			out = append(out, apiFreeKey{Forge: l.Key.Forge, Repo: l.Key.Repo, Dir: l.Key.Dir, Workspace: l.Key.Workspace, Free: true, Waiting: waiting})
			continue
		}
		a := apiLock{Forge: l.Key.Forge, Repo: l.Key.Repo, Dir: l.Key.Dir, Workspace: l.Key.Workspace, Pull: l.Pull, User: l.User, Since: l.Time,
			Turn: l.Turn, Waiting: waiting}
		if !l.Expires.IsZero() {
			a.Expires = &l.Expires
		}
		out = append(out, a)
	}
	writeAPI(w, http.StatusOK, out)
}

// apiUnlock queues the unlock of the pull request the body names, as
// the web UI's button does, on behalf of "api".
func (s *Server) apiUnlock(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Forge string `json:"forge"`
		Repo  string `json:"repo"`
		// Pull is required: 0 names the API's runs on refs.
		Pull *int `json:"pull"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, "the body is not {\"forge\":…,\"repo\":…,\"pull\":…}: "+err.Error())
		return
	}
	if req.Forge == "" || req.Repo == "" || req.Pull == nil || *req.Pull < 0 {
		apiError(w, http.StatusBadRequest, "forge, repo and pull (0 for the API's runs on refs) are required")
		return
	}
	id, err := s.Unlock(r.Context(), req.Forge, req.Repo, *req.Pull, "api", "API")
	switch {
	case errors.Is(err, errNoLocks):
		apiError(w, http.StatusNotFound, pullName(req.Repo, *req.Pull)+" on "+req.Forge+" holds no lock and waits in no line")
	case err != nil:
		s.log.Error("api: queueing an unlock", "err", err)
		apiError(w, http.StatusServiceUnavailable, "could not queue the unlock")
	default:
		writeAPI(w, http.StatusAccepted, map[string]string{"job": id})
	}
}

// apiProject selects a project of a run: by name, or by directory and
// workspace ("default" when not given).
type apiProject struct {
	Name      string `json:"name,omitempty"`
	Dir       string `json:"dir,omitempty"`
	Workspace string `json:"workspace,omitempty"`
}

// apiRun queues command ("plan", or "apply": a plan and at once its
// apply) of the projects the body names, on a ref of a repository rather
// than on a pull request, on behalf of "api". It answers 202 with the
// job's id, and the commit the ref named, once the job is queued: the
// job's record and output (GET /api/jobs/{id}) say how it went.
func (s *Server) apiRun(command string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Forge    string       `json:"forge"`
			Repo     string       `json:"repo"`
			Ref      string       `json:"ref"`
			Projects []apiProject `json:"projects"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			apiError(w, http.StatusBadRequest, `the body is not {"repo":…,"ref":…,"projects":[{"dir":…,"workspace":…} or {"name":…}]}: `+err.Error())
			return
		}
		run := runner.RefRun{Command: command}
		for _, p := range body.Projects {
			run.Projects = append(run.Projects, workflows.Command{Name: command, Project: p.Name, Dir: p.Dir, Workspace: p.Workspace})
		}
		req, err := s.checkRun(body.Forge, body.Repo, body.Ref, run)
		if err != nil {
			apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		id, ref, err := s.queueRun(r.Context(), req, "api", "API")
		switch {
		case r.Context().Err() != nil:
			return // the caller hung up
		case errors.Is(err, errNotAllowed):
			apiError(w, http.StatusForbidden, body.Repo+" is not in this server's --repo-allowlist")
		case errors.Is(err, errNoSuchRef) && body.Ref == "":
			apiError(w, http.StatusNotFound, "the forge has no repository "+body.Repo+", or does not show it to atoll")
		case errors.Is(err, errNoSuchRef):
			apiError(w, http.StatusNotFound, "the forge has no ref "+strconv.Quote(body.Ref)+" in "+body.Repo+", or does not show it to atoll")
		case errors.Is(err, errNoRefs):
			apiError(w, http.StatusNotImplemented, req.forge.Name()+" cannot say which commit a ref names")
		case errors.Is(err, errForge):
			s.log.Error("api: resolving a ref", "repo", body.Repo, "ref", body.Ref, "err", err)
			apiError(w, http.StatusBadGateway, "the forge did not answer: "+err.Error())
		case err != nil:
			s.log.Error("api: queueing a run", "err", err)
			apiError(w, http.StatusServiceUnavailable, "could not queue the run")
		default:
			writeAPI(w, http.StatusAccepted, map[string]string{"job": id, "ref": ref.Name, "sha": ref.SHA})
		}
	}
}

// apiDrift answers the last drift check of ?repo= (on ?forge=, which
// may be left out when the server serves one forge), or, without repo,
// of every repository checked.
func (s *Server) apiDrift(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	repo, forge := strings.TrimSpace(q.Get("repo")), q.Get("forge")
	if forge == "" && len(s.forges) == 1 {
		forge = s.forges[0].Name()
	}
	if repo == "" {
		reports, err := s.drift.all(r.Context(), "")
		if err != nil {
			s.log.Error("api: listing drift reports", "err", err)
			apiError(w, http.StatusServiceUnavailable, "the store does not answer")
			return
		}
		writeAPI(w, http.StatusOK, append([]runner.DriftReport{}, reports...))
		return
	}
	if forge == "" {
		apiError(w, http.StatusBadRequest, "forge is required: this server serves more than one")
		return
	}
	report, ok, err := s.drift.LastDrift(r.Context(), forge, repo)
	switch {
	case err != nil:
		s.log.Error("api: reading a drift report", "err", err)
		apiError(w, http.StatusServiceUnavailable, "the store does not answer")
	case !ok:
		apiError(w, http.StatusNotFound, "no drift check of "+repo+" on "+forge+" yet")
	default:
		writeAPI(w, http.StatusOK, report)
	}
}

// apiJobs answers the newest jobs: ?repo= filters, ?limit= (1 to 500,
// 50 by default) bounds.
func (s *Server) apiJobs(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			apiError(w, http.StatusBadRequest, "limit must be a number from 1 to 500")
			return
		}
		limit = n
	}
	jobs, err := s.records.List(r.Context(), r.URL.Query().Get("repo"), limit)
	if err != nil {
		s.log.Error("api: listing jobs", "err", err)
		apiError(w, http.StatusServiceUnavailable, "the job store does not answer")
		return
	}
	out := make([]apiJob, len(jobs))
	for i, j := range jobs {
		out[i] = newAPIJob(j)
	}
	writeAPI(w, http.StatusOK, out)
}

// apiJob answers one job with its output.
func (s *Server) apiJob(w http.ResponseWriter, r *http.Request) {
	out, rec, err := s.records.Output(r.Context(), r.PathValue("id"), 0, joblog.MaxOutput)
	switch {
	case errors.Is(err, joblog.ErrNotFound):
		apiError(w, http.StatusNotFound, "no job "+r.PathValue("id"))
		return
	case err != nil:
		s.log.Error("api: reading a job", "err", err)
		apiError(w, http.StatusServiceUnavailable, "the job store does not answer")
		return
	}
	j := newAPIJob(rec)
	output := string(out)
	j.Output = &output
	writeAPI(w, http.StatusOK, j)
}

// apiJob is a job as the API gives it.
type apiJob struct {
	ID      string     `json:"id"`
	Forge   string     `json:"forge"`
	Repo    string     `json:"repo"`
	Pull    int        `json:"pull,omitempty"`
	Ref     string     `json:"ref,omitempty"`
	Command string     `json:"command"`
	User    string     `json:"user"`
	State   string     `json:"state"`
	Created time.Time  `json:"created"`
	Started *time.Time `json:"started,omitempty"`
	Ended   *time.Time `json:"ended,omitempty"`
	// Seconds is how long the job ran, once it ended.
	Seconds  float64  `json:"seconds,omitempty"`
	Projects []string `json:"projects,omitempty"`
	Output   *string  `json:"output,omitempty"`
}

func newAPIJob(r joblog.Record) apiJob {
	j := apiJob{ID: r.ID, Forge: r.Forge, Repo: r.Repo, Pull: r.Pull, Ref: r.Ref, Command: r.Command, User: r.User, State: string(r.State), Created: r.Created,
		Seconds: r.Took().Seconds(), Projects: r.Projects}
	if !r.Started.IsZero() {
		j.Started = &r.Started
	}
	if !r.Ended.IsZero() {
		j.Ended = &r.Ended
	}
	return j
}

func writeAPI(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	writeAPI(w, status, map[string]string{"error": msg})
}
