package server

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/atoll-iac/atoll/runner/queue"
	"github.com/atoll-iac/atoll/vcs"
)

// The inbox is the intake of a forge's log of webhook deliveries (a
// GitHub App's): every interval it lists what was delivered since the
// last delivery it took, and hands each that did not reach atoll to
// admit, as the webhook would have. It needs no endpoint the forge can
// reach, and it fills the gaps of one: what arrived while atoll was down
// or failing. Deliveries a server answered 2xx were admitted then; the
// rest are read from the log, whose payload is trusted, as it came over
// the forge's authenticated API. Where the inbox stands is kept in the
// store; on a first start it begins at the latest delivery. With
// replicas, the one that holds the inbox's lease reads it.

// inboxPositionTTL is how long the inbox's position is kept unread:
// longer than the forge keeps its log (three days on GitHub).
const inboxPositionTTL = 7 * 24 * time.Hour

// newInbox returns a poller that reads the delivery log of forge every
// interval.
func newInbox(s *Server, forge vcs.Forge, log vcs.DeliveryLog, interval time.Duration) *poller {
	name := forge.Name() + "-inbox"
	p := &poller{s: s, forge: forge, name: name, interval: interval,
		log: s.log.With("forge", forge.Name(), "inbox", true), owner: newJobID(), failing: map[string]string{}}
	in := &inbox{p: p, deliveries: log, key: "inbox/" + name + "/position"}
	p.poll = in.cycle
	return p
}

// inbox reads one forge's delivery log, as its poller's poll.
type inbox struct {
	p          *poller
	deliveries vcs.DeliveryLog
	// key names the mark that holds the id of the last delivery taken.
	key string
}

// cycle takes the deliveries logged since the last one taken, oldest
// first, and moves the position past each. It stops at the first that
// cannot be taken now (the store is away, say), to try it again next
// cycle; refused for the forge's rate limit, it waits for its reset.
func (in *inbox) cycle(ctx context.Context) error {
	err := in.read(ctx)
	if retry, ok := vcs.AsRateLimit(err); ok {
		in.p.pause(ctx, retry, "the forge refused to show its delivery log for its rate limit")
	}
	return err
}

// read takes what was delivered since the position.
func (in *inbox) read(ctx context.Context) error {
	pos, err := in.position(ctx)
	if err != nil {
		return err
	}
	if pos == 0 {
		return in.start(ctx)
	}
	news, err := in.deliveries.Deliveries(ctx, pos)
	if err != nil {
		return err
	}
	for _, d := range news {
		if err := in.take(ctx, d); err != nil {
			return err
		}
		if err := in.setPosition(ctx, d.ID); err != nil {
			return err
		}
	}
	return nil
}

// start sets the position at the latest delivery: a first start takes
// what is delivered from now on. With an empty log, it starts before any
// delivery.
func (in *inbox) start(ctx context.Context) error {
	latest, err := in.deliveries.Deliveries(ctx, 0)
	if err != nil {
		return err
	}
	pos := int64(1)
	if len(latest) > 0 {
		pos = latest[len(latest)-1].ID
	}
	in.p.log.Info("inbox starts at the latest delivery", "delivery", pos)
	return in.setPosition(ctx, pos)
}

// take admits delivery d, unless a server answered it 2xx (it admitted
// it then) or it asks for nothing.
func (in *inbox) take(ctx context.Context, d vcs.LoggedDelivery) error {
	log := in.p.log.With("delivery", d.GUID, "event", d.Event, "answered", d.StatusCode)
	if d.StatusCode >= 200 && d.StatusCode < 300 {
		return nil
	}
	ev, err := in.deliveries.LoggedEvent(ctx, d.ID)
	switch {
	case errors.Is(err, vcs.ErrIgnored):
		log.Debug("inbox: delivery asks for nothing", "why", err)
		return nil
	case errors.Is(err, vcs.ErrBadPayload):
		log.Warn("inbox: skipping a delivery that does not decode", "err", err)
		return nil
	case err != nil:
		return err
	}
	adm, err := in.p.s.admit(ctx, in.p.forge, ev)
	if err != nil {
		return fmt.Errorf("admitting delivery %s: %w", d.GUID, err)
	}
	log.Info("inbox: took a delivery that did not reach atoll", "queued", adm.queued, "why", adm.why)
	return nil
}

// position is the id of the last delivery taken; 0 before the first
// start.
func (in *inbox) position(ctx context.Context) (int64, error) {
	v, err := in.p.s.tasks.Marked(ctx, in.key)
	if err != nil || v == "" {
		return 0, err
	}
	pos, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the inbox's position %q: %w", v, err)
	}
	return pos, nil
}

func (in *inbox) setPosition(ctx context.Context, id int64) error {
	return in.p.s.tasks.SetMark(ctx, queue.Mark{Key: in.key, Value: strconv.FormatInt(id, 10), TTL: inboxPositionTTL})
}
