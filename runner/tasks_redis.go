package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisTasks is a TaskStore in a Redis stream read by a consumer group:
// each replica is a consumer, a task is a stream entry, a claim is an
// entry pending for a consumer, and a claim lapses when its entry has
// been idle longer than the claimer's ttl, at which point XAUTOCLAIM hands
// it to another. Extending a claim resets the entry's idle time.
type RedisTasks struct {
	client redis.UniversalClient
	stream string
	claims string // hash: entry id → times handed out
	group  string
}

var _ TaskStore = (*RedisTasks)(nil)

// NewRedisTasks returns the task store under prefix ("atoll:" when
// empty), creating its stream and consumer group if need be.
func NewRedisTasks(ctx context.Context, client redis.UniversalClient, prefix string) (*RedisTasks, error) {
	prefix = cmp.Or(prefix, "atoll:")
	r := &RedisTasks{client: client, stream: prefix + "tasks", claims: prefix + "task-claims", group: "atoll"}
	err := client.XGroupCreateMkStream(ctx, r.stream, r.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil, fmt.Errorf("creating the task stream: %w", err)
	}
	return r, nil
}

// Enqueue implements TaskStore with XADD. With Redis' append-only file
// on, the task survives a restart of Redis too.
func (r *RedisTasks) Enqueue(ctx context.Context, body []byte) (Task, error) {
	now := time.Now().UTC()
	id, err := r.client.XAdd(ctx, &redis.XAddArgs{Stream: r.stream, Values: []any{"body", body, "enqueued", now.Format(time.RFC3339Nano)}}).Result()
	if err != nil {
		return Task{}, fmt.Errorf("enqueueing a task: %w", err)
	}
	return Task{ID: id, Body: body, Enqueued: now}, nil
}

// Claim implements TaskStore: XAUTOCLAIM for a lapsed task, else
// XREADGROUP for a new one.
func (r *RedisTasks) Claim(ctx context.Context, consumer string, ttl, wait time.Duration) (Task, bool, error) {
	msgs, _, err := r.client.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: r.stream, Group: r.group, Consumer: consumer, MinIdle: ttl, Start: "0-0", Count: 1,
	}).Result()
	if err != nil {
		return Task{}, false, fmt.Errorf("claiming a lapsed task: %w", err)
	}
	if len(msgs) == 0 {
		block := wait
		if block <= 0 {
			block = -1 // do not wait
		}
		streams, err := r.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: r.group, Consumer: consumer, Streams: []string{r.stream, ">"}, Count: 1, Block: block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			return Task{}, false, nil
		}
		if err != nil {
			return Task{}, false, fmt.Errorf("claiming a task: %w", err)
		}
		for _, s := range streams {
			msgs = append(msgs, s.Messages...)
		}
		if len(msgs) == 0 {
			return Task{}, false, nil
		}
	}
	m := msgs[0]
	claims, err := r.client.HIncrBy(ctx, r.claims, m.ID, 1).Result()
	if err != nil {
		return Task{}, false, fmt.Errorf("counting the claims of task %s: %w", m.ID, err)
	}
	t := Task{ID: m.ID, Claims: int(claims)}
	body, _ := m.Values["body"].(string)
	t.Body = []byte(body)
	if s, ok := m.Values["enqueued"].(string); ok {
		t.Enqueued, _ = time.Parse(time.RFC3339Nano, s)
	}
	return t, true, nil
}

// heldScript runs when consumer ARGV[2] holds entry ARGV[1] of stream
// KEYS[1] for group ARGV[3], and its claim, of ARGV[4] ms, has not
// lapsed: with ARGV[5] "extend" it resets the entry's idle time; with
// "done" it acknowledges and deletes the entry and its claim count
// (KEYS[2]). It returns 1 if it did, 0 if the consumer does not hold it.
var heldScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[3], ARGV[1], ARGV[1], 1)
if #p == 0 or p[1][2] ~= ARGV[2] or p[1][3] >= tonumber(ARGV[4]) then return 0 end
if ARGV[5] == 'extend' then
  redis.call('XCLAIM', KEYS[1], ARGV[3], ARGV[2], 0, ARGV[1], 'JUSTID')
else
  redis.call('XACK', KEYS[1], ARGV[3], ARGV[1])
  redis.call('XDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
`)

// Extend implements TaskStore.
func (r *RedisTasks) Extend(ctx context.Context, id, consumer string, ttl time.Duration) (bool, error) {
	n, err := heldScript.Run(ctx, r.client, []string{r.stream, r.claims}, id, consumer, r.group, ttl.Milliseconds(), "extend").Int()
	if err != nil {
		return false, fmt.Errorf("extending task %s: %w", id, err)
	}
	return n == 1, nil
}

// maxClaim bounds the claims Done accepts as not lapsed: Done is told no
// ttl, and a claim that lapsed but was not taken by another is still the
// consumer's to finish.
const maxClaim = 24 * time.Hour

// Done implements TaskStore.
func (r *RedisTasks) Done(ctx context.Context, id, consumer string) error {
	n, err := heldScript.Run(ctx, r.client, []string{r.stream, r.claims}, id, consumer, r.group, maxClaim.Milliseconds(), "done").Int()
	if err != nil {
		return fmt.Errorf("finishing task %s: %w", id, err)
	}
	if n == 0 {
		return ErrNotHeld
	}
	return nil
}

// Pending implements TaskStore: done tasks are deleted from the stream.
func (r *RedisTasks) Pending(ctx context.Context) (int, error) {
	n, err := r.client.XLen(ctx, r.stream).Result()
	if err != nil {
		return 0, fmt.Errorf("counting tasks: %w", err)
	}
	return int(n), nil
}
