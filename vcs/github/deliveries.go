package github

import (
	"context"
	"errors"
	"fmt"
	"slices"

	gh "github.com/google/go-github/v60/github"

	"github.com/atoll-iac/atoll/vcs"
)

var _ vcs.DeliveryLog = (*Forge)(nil)

// deliveriesPage is how many deliveries one request of the log lists.
const deliveriesPage = 100

// errNoApp is the answer of what only an App can do, asked of a forge
// with a token.
var errNoApp = errors.New("github: only a GitHub App has a delivery log")

// Deliveries implements vcs.DeliveryLog with the App's log of webhook
// deliveries, newest first a page at a time, until one at or before
// after. The log keeps three days. A refusal for the rate limit is a
// *vcs.RateLimitError.
func (f *Forge) Deliveries(ctx context.Context, after int64) ([]vcs.LoggedDelivery, error) {
	if f.app == nil {
		return nil, errNoApp
	}
	opts := &gh.ListCursorOptions{PerPage: deliveriesPage}
	if after == 0 {
		opts.PerPage = 1
	}
	var out []vcs.LoggedDelivery
	for {
		page, resp, err := f.client.Apps.ListHookDeliveries(ctx, opts)
		f.noteRate(resp)
		if err != nil {
			return nil, pollError("listing the App's webhook deliveries", err)
		}
		for _, d := range page {
			if d.GetID() <= after {
				slices.Reverse(out)
				return out, nil
			}
			out = append(out, vcs.LoggedDelivery{ID: d.GetID(), GUID: d.GetGUID(), Event: d.GetEvent(),
				StatusCode: d.GetStatusCode(), Delivered: d.GetDeliveredAt().Time})
		}
		if after == 0 || resp.Cursor == "" {
			slices.Reverse(out)
			return out, nil
		}
		opts.Cursor = resp.Cursor
	}
}

// LoggedEvent implements vcs.DeliveryLog.
func (f *Forge) LoggedEvent(ctx context.Context, id int64) (vcs.Event, error) {
	if f.app == nil {
		return vcs.Event{}, errNoApp
	}
	d, resp, err := f.client.Apps.GetHookDelivery(ctx, id)
	f.noteRate(resp)
	if err != nil {
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
