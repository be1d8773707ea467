package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs"
)

var _ vcs.DeliveryLog = (*App)(nil)

// deliveriesPage is how many deliveries one request of the log lists.
const deliveriesPage = 100

// Deliveries implements vcs.DeliveryLog with the App's log of webhook
// deliveries, newest first a page at a time, until one made before
// since. The log keeps three days. A refusal for the rate limit is a
// *vcs.RateLimitError.
func (a *App) Deliveries(ctx context.Context, since time.Time) ([]vcs.LoggedDelivery, error) {
	opts := &gh.ListCursorOptions{PerPage: deliveriesPage}
	if since.IsZero() {
		opts.PerPage = 1
	}
	var out []vcs.LoggedDelivery
	for {
		page, resp, err := a.client.Apps.ListHookDeliveries(ctx, opts)
		if err != nil {
			return nil, pollError("listing the App's webhook deliveries", err)
		}
		for _, d := range page {
			if d.GetDeliveredAt().Before(since) {
				slices.Reverse(out)
				return out, nil
			}
			out = append(out, vcs.LoggedDelivery{ID: d.GetID(), GUID: d.GetGUID(), Event: d.GetEvent(),
				StatusCode: d.GetStatusCode(), Delivered: d.GetDeliveredAt().Time})
		}
		if since.IsZero() || resp.Cursor == "" {
			slices.Reverse(out)
			return out, nil
		}
		opts.Cursor = resp.Cursor
	}
}

// LoggedEvent implements vcs.DeliveryLog.
func (a *App) LoggedEvent(ctx context.Context, id int64) (vcs.Event, error) {
	d, resp, err := a.client.Apps.GetHookDelivery(ctx, id)
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone || resp.StatusCode == http.StatusUnprocessableEntity) {
			err = errors.Join(vcs.ErrNotFound, err)
		}
		return vcs.Event{}, pollError(fmt.Sprintf("fetching webhook delivery %d", id), err)
	}
	req := d.GetRequest()
	if req == nil || req.RawPayload == nil {
		return vcs.Event{}, fmt.Errorf("%w: delivery %d has no payload", vcs.ErrBadPayload, id)
	}
	// The log keeps the payload as JSON, whatever it was sent as.
	ev, err := decode(d.GetEvent(), *req.RawPayload)
	if err != nil {
		return vcs.Event{}, err
	}
	ev.DeliveryID = d.GetGUID()
	return ev, nil
}
