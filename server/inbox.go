package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/vcs"
)

// The inbox is the intake of a forge's log of webhook deliveries (a
// GitHub App's): every interval it lists what was delivered lately, and
// hands each delivery that did not reach atoll to admit, as the webhook
// would have. It needs no endpoint the forge can reach, and it fills the
// gaps of one: what arrived while atoll was down or failing. A delivery
// reached atoll when the webhook handler marked its GUID; a 2xx answer
// alone proves nothing (a proxy may answer for atoll). The rest are read
// from the log, whose payload is trusted, as it came over the forge's
// authenticated API, and marked once taken. Where the inbox stands is
// the time of the latest delivery it saw, kept in the store; each read
// goes back a little before it (inboxOverlap), since the log may show a
// delivery later than others made after it. On a first start it begins
// at the latest delivery. With replicas, the one that holds the inbox's
// lease reads it.

// inboxKeep is how long the inbox's position and the marks of the
// deliveries it saw are kept: longer than the forge keeps its log (three
// days on GitHub).
const inboxKeep = 4 * 24 * time.Hour

// inboxOverlap is how far before its position the inbox reads again.
const inboxOverlap = 2 * time.Minute

// deliveryKey names the mark of a delivery atoll took, by its GUID.
func deliveryKey(forge, guid string) string { return forge + "/delivery/" + guid }

// newInbox returns a poller that reads the delivery log of forge every
// interval.
func newInbox(s *Server, forge vcs.Forge, deliveries vcs.DeliveryLog, interval time.Duration) *poller {
	name := forge.Name() + "-inbox"
	p := newLoop(s, forge, name, "inbox", nil, interval)
	in := &inbox{p: p, deliveries: deliveries, key: "inbox/" + name + "/position"}
	p.poll = in.cycle
	return p
}

// inbox reads one forge's delivery log, as its poller's poll.
type inbox struct {
	p          *poller
	deliveries vcs.DeliveryLog
	// key names the mark that holds the inbox's position.
	key string
}

// cycle takes the deliveries logged since a little before the position,
// oldest first, and moves the position to the latest it saw. It stops at
// the first that cannot be taken now (the store is away, say), to try it
// again next cycle; refused for the forge's rate limit, it waits for its
// reset.
func (in *inbox) cycle(ctx context.Context) error {
	err := in.read(ctx)
	if retry, ok := vcs.AsRateLimit(err); ok {
		in.p.pause(ctx, retry, "the forge refused to show its delivery log for its rate limit")
	}
	return err
}

// read takes what was delivered since the position, less the overlap.
func (in *inbox) read(ctx context.Context) error {
	pos, err := in.position(ctx)
	if err != nil {
		return err
	}
	if pos.IsZero() {
		return in.start(ctx)
	}
	news, err := in.deliveries.Deliveries(ctx, pos.Add(-inboxOverlap))
	if err != nil {
		return err
	}
	for _, d := range news {
		if err := in.take(ctx, d); err != nil {
			return err
		}
		pos = later(pos, d.Delivered)
	}
	// Set each time, even unmoved: the mark lapses otherwise.
	return in.setPosition(ctx, pos)
}

// start sets the position at the latest delivery, marking it and those
// the next read goes back over taken: a first start takes what is
// delivered from then on. With an empty log, from now.
func (in *inbox) start(ctx context.Context) error {
	latest, err := in.deliveries.Deliveries(ctx, time.Time{})
	if err != nil {
		return err
	}
	pos := time.Now()
	if len(latest) > 0 {
		pos = latest[len(latest)-1].Delivered
		before, err := in.deliveries.Deliveries(ctx, pos.Add(-inboxOverlap))
		if err != nil {
			return err
		}
		for _, d := range before {
			if err := in.mark(ctx, d); err != nil {
				return err
			}
		}
	}
	in.p.log.Info("inbox starts", "at", pos)
	return in.setPosition(ctx, pos)
}

// take admits delivery d, unless atoll took it before (the webhook, or
// an earlier read), then marks it taken.
func (in *inbox) take(ctx context.Context, d vcs.LoggedDelivery) error {
	log := in.p.log.With("delivery", d.GUID, "event", d.Event, "answered", d.StatusCode)
	seen, err := in.p.s.tasks.Marked(ctx, deliveryKey(in.p.forge.Name(), d.GUID))
	switch {
	case err != nil:
		return err
	case seen != "":
		return nil
	}
	ev, err := in.deliveries.LoggedEvent(ctx, d.ID)
	switch {
	case errors.Is(err, vcs.ErrIgnored):
		log.Debug("inbox: delivery asks for nothing", "why", err)
	case errors.Is(err, vcs.ErrBadPayload), errors.Is(err, vcs.ErrNotFound):
		log.Warn("inbox: skipping a delivery that cannot be read", "err", err)
	case err != nil:
		return err
	default:
		adm, err := in.p.s.admit(ctx, in.p.forge, ev)
		if err != nil {
			return fmt.Errorf("admitting delivery %s: %w", d.GUID, err)
		}
		log.Info("inbox: took a delivery that did not reach atoll", "queued", adm.queued, "why", adm.why)
	}
	return in.mark(ctx, d)
}

// delivered marks delivery guid of forge as taken by its webhook, when
// the server reads forge's inbox: the inbox then skips it. A failure is
// logged: the inbox reads the delivery, and what it reports runs once
// all the same.
func (s *Server) delivered(ctx context.Context, forge vcs.Forge, guid string) {
	if !s.inboxes[forge.Name()] || guid == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queueTimeout)
	defer cancel()
	if err := s.tasks.SetMark(ctx, queue.Mark{Key: deliveryKey(forge.Name(), guid), Value: "webhook", TTL: inboxKeep}); err != nil {
		s.log.Warn("marking a webhook delivery for the inbox", "delivery", guid, "err", err)
	}
}

// mark notes that atoll took delivery d.
func (in *inbox) mark(ctx context.Context, d vcs.LoggedDelivery) error {
	return in.p.s.tasks.SetMark(ctx, queue.Mark{Key: deliveryKey(in.p.forge.Name(), d.GUID), Value: "inbox", TTL: inboxKeep})
}

// position is the time of the latest delivery the inbox saw; zero before
// its first start.
func (in *inbox) position(ctx context.Context) (time.Time, error) {
	v, err := in.p.s.tasks.Marked(ctx, in.key)
	if err != nil || v == "" {
		return time.Time{}, err
	}
	pos, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("the inbox's position %q: %w", v, err)
	}
	return pos, nil
}

func (in *inbox) setPosition(ctx context.Context, pos time.Time) error {
	return in.p.s.tasks.SetMark(ctx, queue.Mark{Key: in.key, Value: pos.UTC().Format(time.RFC3339Nano), TTL: inboxKeep})
}

// later is the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
