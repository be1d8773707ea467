package locking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Locker kept in Redis, shared by every replica that uses the
// same server and prefix. A lock is one key, "lock:" and encodeKey(Key)
// under the prefix, whose value is the holding pull request's number and
// the JSON of its record; Redis expires it at Lock.Expires. A line is a
// list, "line:" and encodeKey(Key), of entries: the waiting pull
// request's number and the JSON of its Waiter and Key. The set "lines"
// holds the lines with someone in them, and the set "turns" the lock keys
// handed over whose pull requests have yet to take them (Turn), while
// those keys exist. A lease is one key whose value is its owner. Every
// call on locks and lines is one Lua script, so no two replicas ever both
// win and no one jumps a line. Pass and Lines reach the keys those sets
// name, so all of them must be on one server: not a Redis Cluster.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

var _ Locker = (*Redis)(nil)

// NewRedis returns a Locker on client whose keys start with prefix.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

func (r *Redis) lockKey(k Key) string { return r.prefix + "lock:" + string(encodeKey(k)) }

func (r *Redis) lineKey(k Key) string { return r.prefix + "line:" + string(encodeKey(k)) }

func (r *Redis) linesKey() string { return r.prefix + "lines" }

func (r *Redis) turnsKey() string { return r.prefix + "turns" }

func (r *Redis) leaseKey(name string) string { return r.prefix + "lease:" + name }

// lockValue is what a lock key holds: "PULL JSON", so that scripts can
// compare the holder without decoding JSON.
func lockValue(l Lock) (string, error) {
	rec := l
	rec.Expires, rec.Turn = time.Time{}, false // Redis keeps both itself
	b, err := json.Marshal(rec)
	if err != nil {
		return "", err
	}
	return strconv.Itoa(l.Pull) + " " + string(b), nil
}

func parseLockValue(v string) (Lock, error) {
	_, js, ok := strings.Cut(v, " ")
	if !ok {
		return Lock{}, fmt.Errorf("locking: decoding lock record %q", v)
	}
	return decodeLock([]byte(js))
}

// pexpireAt is the PEXPIREAT argument for t: 0 for never.
func pexpireAt(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// luaLine is the Lua the lock and line scripts share. pull(v) is the
// pull request number a lock value or line entry starts with. place(line,
// p) is p's place in the list line, counting from 1; 0 when it is not in
// it. hand(lock, turns, e, now, nowms) hands the key lock to the line
// entry e at now (RFC 3339, and ms since the epoch): its value has e's
// pull request, key and user, Time now, and it expires its waiter's TTL
// later (never for none); the key joins the set turns. It returns the
// value and its expiry in ms (-1 for none).
const luaLine = `
local function pull(v) return string.match(v, '^%-?%d+') end
local function place(line, p)
  for i, e in ipairs(redis.call('LRANGE', line, 0, -1)) do
    if pull(e) == p then return i end
  end
  return 0
end
local function hand(lock, turns, e, now, nowms)
  local p = pull(e)
  local w = cjson.decode(string.sub(e, #p + 2))
  local v = p .. ' ' .. cjson.encode({Key = w.Key, Pull = w.Pull, User = w.User, Time = now})
  local exp = -1
  if w.TTL > 0 then
    exp = tonumber(nowms) + math.ceil(w.TTL / 1000000)
    redis.call('SET', lock, v, 'PXAT', string.format('%d', exp))
  else
    redis.call('SET', lock, v)
  end
  redis.call('SADD', turns, lock)
  return v, exp
end
`

// takeScript takes the lock KEYS[1] for the pull request ARGV[1], whose
// line is KEYS[2], with KEYS[3] the set of lines and KEYS[4] the set of
// turns. Held by ARGV[1], the lock's expiry becomes ARGV[3] (ms since the
// epoch; 0 for never) and it leaves the turns. Free, it becomes ARGV[2]
// until ARGV[3] unless someone else is first in line: then it is handed
// to them at ARGV[5] (RFC 3339), ARGV[6] (ms). When ARGV[4], a line
// entry, is not empty and someone else holds the key, ARGV[1] joins the
// line with it unless in it already. It returns {acquired (1 or 0), the
// holder's value, its expiry in ms (-1 for none), ARGV[1]'s place in
// line, whether the holder's turn is set}.
var takeScript = redis.NewScript(luaLine + `
local function join()
  if ARGV[4] == '' then return 0 end
  local at = place(KEYS[2], ARGV[1])
  if at == 0 then
    at = redis.call('RPUSH', KEYS[2], ARGV[4])
    redis.call('SADD', KEYS[3], KEYS[2])
  end
  return at
end
local function shorten()
  if redis.call('LLEN', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], KEYS[2]) end
end
local v = redis.call('GET', KEYS[1])
if v and pull(v) == ARGV[1] then
  if ARGV[3] == '0' then
    redis.call('PERSIST', KEYS[1])
  else
    redis.call('PEXPIREAT', KEYS[1], ARGV[3])
  end
  redis.call('SREM', KEYS[4], KEYS[1])
  return {1, v, -1, 0, 0}
end
if v then
  return {0, v, redis.call('PEXPIRETIME', KEYS[1]), join(), redis.call('SISMEMBER', KEYS[4], KEYS[1])}
end
local first = redis.call('LINDEX', KEYS[2], 0)
if not first or pull(first) == ARGV[1] then
  if first then
    redis.call('LPOP', KEYS[2])
    shorten()
  end
  if ARGV[3] == '0' then
    redis.call('SET', KEYS[1], ARGV[2])
  else
    redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
  end
  redis.call('SREM', KEYS[4], KEYS[1])
  return {1, ARGV[2], -1, 0, 0}
end
redis.call('LPOP', KEYS[2])
local hv, exp = hand(KEYS[1], KEYS[4], first, ARGV[5], ARGV[6])
local at = join()
shorten()
return {0, hv, exp, at, 1}
`)

// unlockScript deletes KEYS[1] if the pull request ARGV[1] holds it, and
// takes it out of the set of turns KEYS[2].
var unlockScript = redis.NewScript(luaLine + `
local v = redis.call('GET', KEYS[1])
if v and pull(v) == ARGV[1] then
  redis.call('SREM', KEYS[2], KEYS[1])
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// renewScript extends KEYS[1] to ARGV[2] ms if ARGV[1] owns it.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// releaseScript deletes KEYS[1] if ARGV[1] owns it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// TryLock implements Locker in one script run. A zero l.Time is set to
// the current time.
func (r *Redis) TryLock(ctx context.Context, l Lock) (Lock, bool, error) {
	holder, _, err := r.take(ctx, l, false)
	return holder, err == nil && holder.Pull == l.Pull, err
}

// Wait implements Liner in one script run. A zero l.Time is set to the
// current time.
func (r *Redis) Wait(ctx context.Context, l Lock) (Lock, int, error) {
	return r.take(ctx, l, true)
}

// take takes l.Key for l.Pull, as TryLock does, and, when join is set
// and another pull request holds it, puts l.Pull in its line. It returns
// the holder, and l.Pull's place in line (0 when it holds the key, or
// did not join).
func (r *Redis) take(ctx context.Context, l Lock, join bool) (Lock, int, error) {
	now := time.Now().UTC()
	if l.Time.IsZero() {
		l.Time = now
	}
	if l.Lapsed(now) {
		return Lock{}, 0, fmt.Errorf("locking: taking lock %+v for pull %d: it expires in the past", l.Key, l.Pull)
	}
	l.Turn = false
	v, err := lockValue(l)
	if err != nil {
		return Lock{}, 0, err
	}
	var entry string
	if join {
		if entry, err = entryValue(l.Key, waiter(l)); err != nil {
			return Lock{}, 0, err
		}
	}
	keys := []string{r.lockKey(l.Key), r.lineKey(l.Key), r.linesKey(), r.turnsKey()}
	res, err := takeScript.Run(ctx, r.client, keys, l.Pull, v, pexpireAt(l.Expires), entry, now.Format(time.RFC3339Nano), now.UnixMilli()).Slice()
	if err == nil && len(res) != 5 {
		err = errors.New("unexpected reply")
	}
	if err != nil {
		return Lock{}, 0, fmt.Errorf("locking: taking lock %+v for pull %d: %w", l.Key, l.Pull, err)
	}
	hv, _ := res[1].(string)
	if res[0] == int64(1) && hv == v {
		return l, 0, nil // it was free
	}
	holder, err := parseLockValue(hv)
	if err != nil {
		return Lock{}, 0, err
	}
	if res[0] == int64(1) {
		holder.Expires = l.Expires
		return holder, 0, nil
	}
	holder.Expires, holder.Turn = fromMillis(res[2]), res[4] == int64(1)
	at, _ := res[3].(int64)
	return holder, int(at), nil
}

// fromMillis is the time of a reply in ms since the epoch: zero for none
// (a reply of -1 or -2, or not a number).
func fromMillis(reply any) time.Time {
	ms, _ := reply.(int64)
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Unlock implements Locker.
func (r *Redis) Unlock(ctx context.Context, key Key, pull int) (bool, error) {
	n, err := unlockScript.Run(ctx, r.client, []string{r.lockKey(key), r.turnsKey()}, pull).Int()
	if err != nil {
		return false, fmt.Errorf("locking: releasing lock %+v for pull %d: %w", key, pull, err)
	}
	return n == 1, nil
}

// List implements Locker by scanning the lock keys.
func (r *Redis) List(ctx context.Context) ([]Lock, error) {
	var keys []string
	iter := r.client.Scan(ctx, 0, r.prefix+"lock:*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("locking: listing locks: %w", err)
	}
	locks := make([]Lock, 0, len(keys))
	for chunk := range slices.Chunk(keys, 500) {
		pipe := r.client.TxPipeline() // a chunk's value, expiry and turn agree
		gets := make([]*redis.StringCmd, len(chunk))
		exps := make([]*redis.DurationCmd, len(chunk))
		turns := make([]*redis.BoolCmd, len(chunk))
		for i, k := range chunk {
			gets[i] = pipe.Get(ctx, k)
			exps[i] = pipe.PExpireTime(ctx, k)
			turns[i] = pipe.SIsMember(ctx, r.turnsKey(), k)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("locking: listing locks: %w", err)
		}
		for i := range chunk {
			v, err := gets[i].Result()
			if errors.Is(err, redis.Nil) {
				continue // lapsed or released since the scan
			}
			l, err := parseLockValue(v)
			if err != nil {
				return nil, err
			}
			if ms := exps[i].Val(); ms > 0 {
				l.Expires = time.UnixMilli(int64(ms / time.Millisecond)).UTC()
			}
			l.Turn = turns[i].Val()
			locks = append(locks, l)
		}
	}
	slices.SortFunc(locks, compareLocks)
	return locks, nil
}

// Acquire implements Leaser with SET NX PX.
func (r *Redis) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	ok, err := r.client.SetNX(ctx, r.leaseKey(name), owner, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("locking: lease %q: %w", name, err)
	}
	if !ok {
		// Taking it again is renewing it.
		return r.Renew(ctx, name, owner, ttl)
	}
	return true, nil
}

// Renew implements Leaser.
func (r *Redis) Renew(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	n, err := renewScript.Run(ctx, r.client, []string{r.leaseKey(name)}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("locking: renewing lease %q: %w", name, err)
	}
	return n == 1, nil
}

// Release implements Leaser.
func (r *Redis) Release(ctx context.Context, name, owner string) (bool, error) {
	n, err := releaseScript.Run(ctx, r.client, []string{r.leaseKey(name)}, owner).Int()
	if err != nil {
		return false, fmt.Errorf("locking: releasing lease %q: %w", name, err)
	}
	return n == 1, nil
}
