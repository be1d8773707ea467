package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store in a Redis stream read by a consumer group:
// each replica is a consumer, a task is a stream entry, a claim is an
// entry pending for a consumer, and a claim lapses when its entry has
// been idle longer than the claimer's ttl, at which point XAUTOCLAIM hands
// it to another. Extending a claim resets the entry's idle time.
type Redis struct {
	client   redis.UniversalClient
	stream   string
	claims   string // hash: entry id → times handed out
	releases string // hash: entry id → the claims released, as "1,3"
	notes    string // hash: entry id → its note
	marks    string // prefix of the marks' keys
	last     string // hash: task group → last turn handed out
	served   string // hash: task group → last turn done
	group    string // the consumer group
}

var _ Store = (*Redis)(nil)

// NewRedis returns the task store whose keys start with prefix,
// creating its stream and consumer group if need be.
func NewRedis(ctx context.Context, client redis.UniversalClient, prefix string) (*Redis, error) {
	r := &Redis{client: client, stream: prefix + "tasks", claims: prefix + "task-claims", releases: prefix + "task-releases", notes: prefix + "task-notes", marks: prefix + "mark:",
		last: prefix + "task-turns-last", served: prefix + "task-turns-served", group: "atoll"}
	err := client.XGroupCreateMkStream(ctx, r.stream, r.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil, fmt.Errorf("queue: creating the task stream: %w", err)
	}
	if err := r.pruneConsumers(ctx, consumerIdle); err != nil {
		return nil, err
	}
	return r, nil
}

// consumerIdle is how long a consumer with no task may sit in the group
// before a starting replica removes it: every replica process adds its
// own consumers, and those of processes gone would pile up.
const consumerIdle = time.Hour

// pruneConsumers removes the group's consumers that hold no task and have
// been idle for longer than idle. One that holds tasks stays: removing it
// would drop its tasks from the group's pending list, where another
// replica takes them over from.
func (r *Redis) pruneConsumers(ctx context.Context, idle time.Duration) error {
	consumers, err := r.client.XInfoConsumers(ctx, r.stream, r.group).Result()
	if err != nil {
		return fmt.Errorf("queue: listing task consumers: %w", err)
	}
	for _, c := range consumers {
		if c.Pending > 0 || c.Idle < idle {
			continue
		}
		// The script checks again, so that a consumer that took a task
		// meanwhile keeps it.
		if err := pruneScript.Run(ctx, r.client, []string{r.stream}, r.group, c.Name).Err(); err != nil {
			return fmt.Errorf("queue: removing task consumer %s: %w", c.Name, err)
		}
	}
	return nil
}

// pruneScript deletes consumer ARGV[2] of group ARGV[1] if it holds no
// entry.
var pruneScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p == 0 then redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2]) end
return #p
`)

// enqueueScript gives the task its group's next turn and appends it to
// the stream, at once; with a mark (KEYS[3]), only if that key holds
// neither ARGV[5] nor a value of an order above ARGV[6] (when not 0), and
// it then sets it, as "ORDER|VALUE", for ARGV[4] ms. It returns nothing
// when the mark stood in the way.
var enqueueScript = redis.NewScript(`
if KEYS[3] then
  local held = redis.call('GET', KEYS[3])
  if held then
    local order, value = string.match(held, '^(%-?%d+)|(.*)$')
    if value == ARGV[5] then return {} end
    if order and ARGV[6] ~= '0' and tonumber(order) > tonumber(ARGV[6]) then return {} end
  end
  redis.call('SET', KEYS[3], ARGV[6] .. '|' .. ARGV[5], 'PX', ARGV[4])
end
local turn = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local id = redis.call('XADD', KEYS[1], '*', 'group', ARGV[1], 'turn', turn, 'body', ARGV[2], 'enqueued', ARGV[3])
return {id, turn}
`)

// Enqueue implements Store with XADD. With Redis' append-only file
// on, the task survives a restart of Redis too.
func (r *Redis) Enqueue(ctx context.Context, group string, body []byte) (Task, error) {
	t, _, err := r.EnqueueOnce(ctx, Mark{}, group, body)
	return t, err
}

// EnqueueOnce implements Store in one script: a mark is a string that
// Redis expires after its TTL.
func (r *Redis) EnqueueOnce(ctx context.Context, m Mark, group string, body []byte) (Task, bool, error) {
	now := time.Now().UTC()
	keys := []string{r.stream, r.last}
	if m.Key != "" {
		keys = append(keys, r.marks+m.Key)
	}
	res, err := enqueueScript.Run(ctx, r.client, keys, group, body, now.Format(time.RFC3339Nano), max(m.TTL.Milliseconds(), 1), m.Value, m.Order).Slice()
	if err != nil {
		return Task{}, false, fmt.Errorf("queue: enqueueing a task: %w", err)
	}
	if len(res) == 0 {
		return Task{}, false, nil
	}
	if len(res) != 2 {
		return Task{}, false, fmt.Errorf("queue: enqueueing a task: unexpected reply %v", res)
	}
	id, _ := res[0].(string)
	turn, _ := res[1].(int64)
	return Task{ID: id, Group: group, Turn: turn, Body: body, Enqueued: now}, true, nil
}

// SetMark implements Store.
func (r *Redis) SetMark(ctx context.Context, m Mark) error {
	if err := r.client.Set(ctx, r.marks+m.Key, fmt.Sprintf("%d|%s", m.Order, m.Value), max(m.TTL, time.Millisecond)).Err(); err != nil {
		return fmt.Errorf("queue: setting mark %s: %w", m.Key, err)
	}
	return nil
}

// Marked implements Store.
func (r *Redis) Marked(ctx context.Context, key string) (string, error) {
	v, err := r.client.Get(ctx, r.marks+key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("queue: reading mark %s: %w", key, err)
	}
	_, value, _ := strings.Cut(v, "|")
	return value, nil
}

// Ready implements Store.
func (r *Redis) Ready(ctx context.Context, t Task) (bool, error) {
	served, err := r.client.HGet(ctx, r.served, t.Group).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("queue: reading the turn of task %s: %w", t.ID, err)
	}
	return served+1 >= t.Turn, nil
}

// Claim implements Store: XAUTOCLAIM for a lapsed task, else
// XREADGROUP for a new one. A consumer group lost with Redis' data (a
// restart without its append-only file) is made again.
func (r *Redis) Claim(ctx context.Context, consumer string, ttl, wait time.Duration) (Task, bool, error) {
	msgs, err := r.claimLapsed(ctx, consumer, ttl)
	if isNoGroup(err) {
		if err = r.client.XGroupCreateMkStream(ctx, r.stream, r.group, "0").Err(); err == nil || strings.HasPrefix(err.Error(), "BUSYGROUP") {
			msgs, err = r.claimLapsed(ctx, consumer, ttl)
		}
	}
	if err != nil {
		return Task{}, false, fmt.Errorf("queue: claiming a lapsed task: %w", err)
	}
	if len(msgs) == 0 {
		block := wait
		if block < time.Millisecond {
			block = -1 // do not wait (BLOCK 0 would wait for ever)
		}
		streams, err := r.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: r.group, Consumer: consumer, Streams: []string{r.stream, ">"}, Count: 1, Block: block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			return Task{}, false, nil
		}
		if err != nil {
			return Task{}, false, fmt.Errorf("queue: claiming a task: %w", err)
		}
		for _, s := range streams {
			msgs = append(msgs, s.Messages...)
		}
		if len(msgs) == 0 {
			return Task{}, false, nil
		}
	}
	m := msgs[0]
	pipe := r.client.TxPipeline()
	claims := pipe.HIncrBy(ctx, r.claims, m.ID, 1)
	note := pipe.HGet(ctx, r.notes, m.ID)
	releases := pipe.HGet(ctx, r.releases, m.ID)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return Task{}, false, fmt.Errorf("queue: counting the claims of task %s: %w", m.ID, err)
	}
	t := Task{ID: m.ID, Claims: int(claims.Val()), Note: note.Val()}
	t.Releases = releasedBefore(parseReleased(releases.Val()), t.Claims)
	body, _ := m.Values["body"].(string)
	t.Body = []byte(body)
	t.Group, _ = m.Values["group"].(string)
	if s, ok := m.Values["turn"].(string); ok {
		t.Turn, _ = strconv.ParseInt(s, 10, 64)
	}
	if s, ok := m.Values["enqueued"].(string); ok {
		t.Enqueued, _ = time.Parse(time.RFC3339Nano, s)
	}
	return t, true, nil
}

// claimLapsed takes one entry whose claim lapsed, if any: XAUTOCLAIM
// looks at a few pending entries a call, so it goes on from its cursor
// until it has looked at all of them.
func (r *Redis) claimLapsed(ctx context.Context, consumer string, ttl time.Duration) ([]redis.XMessage, error) {
	start := "0-0"
	for range 10_000 {
		msgs, next, err := r.client.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: r.stream, Group: r.group, Consumer: consumer, MinIdle: ttl, Start: start, Count: 1,
		}).Result()
		if err != nil || len(msgs) > 0 || next == "0-0" || next == "" {
			return msgs, err
		}
		start = next
	}
	return nil, nil
}

func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

// heldScript runs when consumer ARGV[2] holds entry ARGV[1] of stream
// KEYS[1] for group ARGV[3], and its claim, of ARGV[4] ms, has not
// lapsed. By ARGV[5]: "extend" resets the entry's idle time; "note"
// records ARGV[6] as its note (in KEYS[5]); "done" acknowledges and
// deletes the entry, its claim count (in KEYS[2]), note and release count
// (in KEYS[6]) and ends its turn (turns in KEYS[3], served, and KEYS[4],
// last); "requeue" appends it again as a new entry, keeping its fields and
// counts, and returns the new id. It returns 0 if the consumer does not
// hold the entry.
var heldScript = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[3], ARGV[1], ARGV[1], 1)
if #p == 0 or p[1][2] ~= ARGV[2] or p[1][3] >= tonumber(ARGV[4]) then return 0 end
if ARGV[5] == 'extend' then
  redis.call('XCLAIM', KEYS[1], ARGV[3], ARGV[2], 0, ARGV[1], 'JUSTID')
  return 1
end
if ARGV[5] == 'note' then
  redis.call('HSET', KEYS[5], ARGV[1], ARGV[6])
  return 1
end
local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
local fields = e[1][2]
local group, turn
for i = 1, #fields, 2 do
  if fields[i] == 'group' then group = fields[i+1] end
  if fields[i] == 'turn' then turn = tonumber(fields[i+1]) end
end
redis.call('XACK', KEYS[1], ARGV[3], ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
local claims = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '1')
redis.call('HDEL', KEYS[2], ARGV[1])
local note = redis.call('HGET', KEYS[5], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
local released = redis.call('HGET', KEYS[6], ARGV[1])
redis.call('HDEL', KEYS[6], ARGV[1])
if ARGV[5] == 'requeue' then
  local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
  if claims > 1 then redis.call('HSET', KEYS[2], id, claims - 1) end
  if note then redis.call('HSET', KEYS[5], id, note) end
  if released then redis.call('HSET', KEYS[6], id, released) end
  return id
end
local served = tonumber(redis.call('HGET', KEYS[3], group) or '0')
if turn == served + 1 then
  served = turn
  -- turns done out of turn beyond it, as fields "GROUP\0TURN"
  while redis.call('HDEL', KEYS[3], group .. '\0' .. tostring(served + 1)) == 1 do
    served = served + 1
  end
  redis.call('HSET', KEYS[3], group, served)
elseif turn > served + 1 then
  redis.call('HSET', KEYS[3], group .. '\0' .. tostring(turn), 1)
end
if served >= tonumber(redis.call('HGET', KEYS[4], group) or '0') then
  redis.call('HDEL', KEYS[3], group)
  redis.call('HDEL', KEYS[4], group)
end
return 1
`)

func (r *Redis) keys() []string {
	return []string{r.stream, r.claims, r.served, r.last, r.notes, r.releases}
}

// Extend implements Store.
func (r *Redis) Extend(ctx context.Context, id, consumer string, ttl time.Duration) (bool, error) {
	n, err := heldScript.Run(ctx, r.client, r.keys(), id, consumer, r.group, ttl.Milliseconds(), "extend").Int()
	if err != nil {
		return false, fmt.Errorf("queue: extending task %s: %w", id, err)
	}
	return n == 1, nil
}

// maxClaim bounds the claims Done accepts as not lapsed: Done is told no
// ttl, and a claim that lapsed but was not taken by another is still the
// consumer's to finish.
const maxClaim = 24 * time.Hour

// Done implements Store.
func (r *Redis) Done(ctx context.Context, id, consumer string) error {
	return r.held(ctx, "finishing", id, consumer, "done")
}

// Note implements Store.
func (r *Redis) Note(ctx context.Context, id, consumer, note string) error {
	return r.held(ctx, "noting on", id, consumer, "note", note)
}

// Release implements Store: the entry's idle time becomes maxClaim,
// past any claim's TTL, so the next Claim of any consumer takes it.
func (r *Redis) Release(ctx context.Context, t Task, consumer string) error {
	return r.release(ctx, t, consumer, "release")
}

// Stopping implements Store.
func (r *Redis) Stopping(ctx context.Context, t Task, consumer string) error {
	return r.release(ctx, t, consumer, "count")
}

// release runs releaseScript for op.
func (r *Redis) release(ctx context.Context, t Task, consumer, op string) error {
	n, err := releaseScript.Run(ctx, r.client, []string{r.stream, r.releases}, t.ID, consumer, r.group, maxClaim.Milliseconds(), t.Claims, op).Int()
	if err != nil {
		return fmt.Errorf("queue: releasing task %s: %w", t.ID, err)
	}
	if n == 0 {
		return ErrNotHeld
	}
	return nil
}

// Released implements Store.
func (r *Redis) Released(ctx context.Context, t Task) (int, error) {
	pipe := r.client.TxPipeline()
	exists := pipe.XRange(ctx, r.stream, t.ID, t.ID)
	released := pipe.HGet(ctx, r.releases, t.ID)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("queue: reading the releases of task %s: %w", t.ID, err)
	}
	if len(exists.Val()) == 0 {
		return 0, ErrNotHeld
	}
	return releasedBefore(parseReleased(released.Val()), t.Claims), nil
}

// parseReleased reads the claims a releases field lists.
func parseReleased(s string) []int {
	var claims []int
	for f := range strings.SplitSeq(s, ",") {
		if n, err := strconv.Atoi(f); err == nil {
			claims = append(claims, n)
		}
	}
	return claims
}

// releaseScript records claim ARGV[5] of entry ARGV[1] of stream KEYS[1]
// as released in KEYS[2], once, if the entry is there, and when consumer
// ARGV[2] holds it for group ARGV[3], or held it last (its claim lapsed,
// or released already), sets its idle time to ARGV[4] ms, past any
// claim's, as if the claim had lapsed, unless ARGV[6] is "count". It
// returns 1 when the consumer holds the entry.
var releaseScript = redis.NewScript(`
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return 0 end
local released = redis.call('HGET', KEYS[2], ARGV[1])
if not released then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
elseif not string.find(',' .. released .. ',', ',' .. ARGV[5] .. ',', 1, true) then
  redis.call('HSET', KEYS[2], ARGV[1], released .. ',' .. ARGV[5])
end
local p = redis.call('XPENDING', KEYS[1], ARGV[3], ARGV[1], ARGV[1], 1)
if #p == 0 or p[1][2] ~= ARGV[2] then return 0 end
if ARGV[6] == 'count' then return 1 end
redis.call('XCLAIM', KEYS[1], ARGV[3], ARGV[2], 0, ARGV[1], 'IDLE', ARGV[4], 'JUSTID')
return 1
`)

// held runs heldScript's op on task id for consumer, with a claim that
// lapsed but was not taken by another still the consumer's; doing names
// the op in errors. ErrNotHeld when consumer does not hold the task.
func (r *Redis) held(ctx context.Context, doing, id, consumer, op string, args ...any) error {
	n, err := heldScript.Run(ctx, r.client, r.keys(), append([]any{id, consumer, r.group, maxClaim.Milliseconds(), op}, args...)...).Int()
	if err != nil {
		return fmt.Errorf("%s task %s: %w", doing, id, err)
	}
	if n == 0 {
		return ErrNotHeld
	}
	return nil
}

// Requeue implements Store.
func (r *Redis) Requeue(ctx context.Context, t Task, consumer string) error {
	res, err := heldScript.Run(ctx, r.client, r.keys(), t.ID, consumer, r.group, maxClaim.Milliseconds(), "requeue").Result()
	if err != nil {
		return fmt.Errorf("queue: requeueing task %s: %w", t.ID, err)
	}
	if n, ok := res.(int64); ok && n == 0 {
		return ErrNotHeld
	}
	return nil
}

// Oldest implements Store: the stream's first entry is its oldest task
// not done.
func (r *Redis) Oldest(ctx context.Context) (time.Time, bool, error) {
	msgs, err := r.client.XRangeN(ctx, r.stream, "-", "+", 1).Result()
	if err != nil {
		return time.Time{}, false, fmt.Errorf("queue: reading the oldest task: %w", err)
	}
	if len(msgs) == 0 {
		return time.Time{}, false, nil
	}
	s, _ := msgs[0].Values["enqueued"].(string)
	enqueued, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("queue: task %s has no time of record: %w", msgs[0].ID, err)
	}
	return enqueued, true, nil
}

// Pending implements Store: done tasks are deleted from the stream.
func (r *Redis) Pending(ctx context.Context) (int, error) {
	n, err := r.client.XLen(ctx, r.stream).Result()
	if err != nil {
		return 0, fmt.Errorf("queue: counting tasks: %w", err)
	}
	return int(n), nil
}
