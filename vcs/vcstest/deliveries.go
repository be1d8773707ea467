package vcstest

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AppDelivery is one webhook delivery in the App's log, as a test reads
// it.
type AppDelivery struct {
	// ID is GitHub's id of the delivery, which grows with each one.
	ID int64
	// GUID is the X-GitHub-Delivery header sent.
	GUID string
	// Event is the X-GitHub-Event header sent, Action the payload's
	// action ("" if it has none).
	Event, Action string
	// StatusCode is the target's HTTP status; 0 when nothing answered.
	StatusCode int
	// Status is GitHub's word for the outcome: "OK" for a 2xx,
	// "Invalid HTTP Response: 404" and the like for another status, or
	// "failed to connect to host" when nothing answered.
	Status string
}

// loggedDelivery is a delivery as the App's log holds it: what the
// delivery endpoints show. It does not change once logged.
type loggedDelivery struct {
	AppDelivery
	at       time.Time
	duration float64 // seconds
	url      string  // the target
	// installation and repository are the ids of the installation on
	// the repository's owner and of the repository; 0 for none.
	installation, repository int64
	request                  map[string]string // headers, as GitHub names them
	payload                  json.RawMessage
	response                 map[string]string // headers; nil when nothing answered
	answer                   *string           // the body; nil when nothing answered
}

// firstDeliveryID is the id of the App's first delivery: GitHub's are
// large numbers.
const firstDeliveryID = 10000000001

// sent is one delivery Deliver made, and what came of it.
type sent struct {
	target, event, guid string
	header              http.Header
	payload             []byte // the JSON, before any form encoding
	start               time.Time
	answer              hookAnswer
	err                 error // why nothing answered
}

// logDelivery records d in the App's log, which EnableApp started.
func (g *GitHub) logDelivery(d sent) {
	var about struct {
		Action     string `json:"action"`
		Repository struct {
			ID       int64  `json:"id"`
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	payload := json.RawMessage(d.payload)
	if !json.Valid(d.payload) {
		payload, _ = json.Marshal(string(d.payload)) // a payload a test mangled on purpose
	}
	_ = json.Unmarshal(d.payload, &about) // what it can
	l := loggedDelivery{
		AppDelivery: AppDelivery{GUID: d.guid, Event: d.event, Action: about.Action,
			StatusCode: d.answer.status, Status: deliveryStatus(d.answer.status, d.err)},
		at:         d.start.UTC().Truncate(time.Second),
		duration:   time.Since(d.start).Seconds(),
		url:        d.target,
		repository: about.Repository.ID,
		request:    githubHeaders(d.header),
		payload:    payload,
	}
	if d.err == nil {
		l.response = map[string]string{}
		for k, vs := range d.answer.header {
			l.response[k] = strings.Join(vs, ", ")
		}
		l.answer = &d.answer.body
	}
	owner, _, _ := strings.Cut(about.Repository.FullName, "/")
	g.mu.Lock()
	defer g.mu.Unlock()
	if in := g.installationOfLocked(owner); in != nil && owner != "" {
		l.installation = in.id
	}
	l.ID = firstDeliveryID + int64(len(g.app.deliveries))
	g.app.deliveries = append(g.app.deliveries, l)
}

// deliveryStatus is GitHub's word for a delivery the target answered
// with status, or that failed with err.
func deliveryStatus(status int, err error) string {
	switch {
	case err != nil:
		return "failed to connect to host"
	case status >= 200 && status < 300:
		return "OK"
	}
	return fmt.Sprintf("Invalid HTTP Response: %d", status)
}

// githubHeaders is h as GitHub lists a delivery's request headers: one
// value per name, names spelled as GitHub does ("X-GitHub-Hook-ID"),
// which Go's canonical form is not ("X-Github-Hook-Id").
func githubHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for k, vs := range h {
		k = strings.Replace(k, "X-Github-", "X-GitHub-", 1)
		if base, ok := strings.CutSuffix(k, "-Id"); ok {
			k = base + "-ID"
		}
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

// AppDeliveries returns the App's webhook deliveries, oldest first; nil
// before EnableApp, whose deliveries are not logged.
func (g *GitHub) AppDeliveries() []AppDelivery {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.app == nil {
		return nil
	}
	out := make([]AppDelivery, len(g.app.deliveries))
	for i, d := range g.app.deliveries {
		out[i] = d.AppDelivery
	}
	return out
}

// listAppDeliveries answers GET /app/hook/deliveries: the App's
// deliveries, newest first, per_page at a time (default 30, at most
// 100). As on GitHub, the pages go by cursor: the Link header's next
// page carries one, naming the page's first delivery.
func (g *GitHub) listAppDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage < 1 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	from := int64(-1) // the newest
	if c := q.Get("cursor"); c != "" {
		id, err := strconv.ParseInt(strings.TrimPrefix(c, "v1_"), 10, 64)
		if err != nil || !strings.HasPrefix(c, "v1_") {
			apiError(w, http.StatusBadRequest, "Invalid cursor")
			return
		}
		from = id
	}
	g.mu.Lock()
	log := slices.Clone(g.app.deliveries)
	g.mu.Unlock()
	slices.Reverse(log)
	lo := 0
	if from >= 0 {
		lo, _ = slices.BinarySearchFunc(log, from, func(d loggedDelivery, id int64) int { return cmp.Compare(id, d.ID) })
	}
	hi := min(lo+perPage, len(log))
	if hi < len(log) {
		q.Set("per_page", strconv.Itoa(perPage))
		q.Set("cursor", deliveryCursor(log[hi].ID))
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, g.url+r.URL.Path, q.Encode()))
	}
	out := []map[string]any{}
	for _, d := range log[lo:hi] {
		out = append(out, d.json(false))
	}
	writeJSON(w, http.StatusOK, out)
}

// deliveryCursor is the cursor of a page that starts at delivery id,
// shaped as GitHub's.
func deliveryCursor(id int64) string { return "v1_" + strconv.FormatInt(id, 10) }

// getAppDelivery answers GET /app/hook/deliveries/ID: the delivery with
// its request and response, or 404.
func (g *GitHub) getAppDelivery(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	g.mu.Lock()
	i := id - firstDeliveryID
	var d *loggedDelivery
	if i >= 0 && i < int64(len(g.app.deliveries)) {
		d = &g.app.deliveries[i]
	}
	g.mu.Unlock()
	if d == nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, d.json(true))
}

// json is d as GitHub shows it: full, with its URL, request and
// response, as GET /app/hook/deliveries/ID does; else as in the list.
func (d *loggedDelivery) json(full bool) map[string]any {
	out := map[string]any{
		"id": d.ID, "guid": d.GUID, "delivered_at": d.at.Format(time.RFC3339), "redelivery": false,
		"duration": d.duration, "status": d.Status, "status_code": d.StatusCode, "event": d.Event,
		"action": nullIf(d.Action == "", d.Action), "installation_id": nullIf(d.installation == 0, d.installation),
		"repository_id": nullIf(d.repository == 0, d.repository), "throttled_at": nil,
	}
	if full {
		out["url"] = d.url
		out["request"] = map[string]any{"headers": d.request, "payload": d.payload}
		headers := d.response
		if headers == nil {
			headers = map[string]string{}
		}
		out["response"] = map[string]any{"headers": headers, "payload": d.answer}
	}
	return out
}

// nullIf is nil, JSON's null, if null holds, else v.
func nullIf(null bool, v any) any {
	if null {
		return nil
	}
	return v
}

// setInstallation puts the installation of the App on owner's account in
// a webhook payload, as GitHub does in the App's webhooks, or takes the
// example's out where the App is not installed.
func (g *GitHub) setInstallation(doc map[string]any, owner string) {
	g.mu.Lock()
	in := g.installationOfLocked(owner)
	g.mu.Unlock()
	if in == nil {
		delete(doc, "installation")
		return
	}
	doc["installation"] = map[string]any{"id": in.id, "node_id": installationNodeID(in.id)}
}

// installationNodeID is the GraphQL id of installation id, in GitHub's
// older form: base64 of "023:IntegrationInstallation" and the id.
func installationNodeID(id int64) string {
	const kind = "IntegrationInstallation"
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "0%d:%s%d", len(kind), kind, id))
}
