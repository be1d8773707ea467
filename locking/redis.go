package locking

import (
	"cmp"
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
// same server and prefix. A lock is one key, encodeKey(Key) under the
// prefix, whose value is the holding pull request's number and the JSON
// of its record; Redis expires it at Lock.Expires. A lease is one key
// whose value is its owner. Taking a free lock or lease is a single
// SET NX; everything that must check the holder first is a Lua script, so
// no two replicas ever both win.
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

func (r *Redis) leaseKey(name string) string { return r.prefix + "lease:" + name }

// lockValue is what a lock key holds: "PULL JSON", so that scripts can
// compare the holder without decoding JSON.
func lockValue(l Lock) (string, error) {
	rec := l
	rec.Expires = time.Time{} // Redis keeps the expiry itself
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

// relockScript, run when SET NX found the key taken: if the pull request
// in ARGV[1] holds it, its expiry becomes ARGV[2] (ms since the epoch; 0
// for never) and it returns 1 and the record; otherwise 0 and the holder's
// record. A key gone meanwhile returns nothing: the caller tries again.
var relockScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return nil end
if string.match(v, '^%d+') ~= ARGV[1] then return {0, v} end
if ARGV[2] == '0' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return {1, v}
`)

// unlockScript deletes KEYS[1] if the pull request ARGV[1] holds it.
var unlockScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.match(v, '^%d+') == ARGV[1] then
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

// TryLock implements Locker: SET NX, and when the key is taken, a script
// that refreshes the caller's own lock or returns the holder.
func (r *Redis) TryLock(ctx context.Context, l Lock) (Lock, bool, error) {
	if l.Time.IsZero() {
		l.Time = time.Now().UTC()
	}
	if l.Lapsed(time.Now()) {
		return Lock{}, false, fmt.Errorf("locking: taking lock %+v for pull %d: it expires in the past", l.Key, l.Pull)
	}
	v, err := lockValue(l)
	if err != nil {
		return Lock{}, false, err
	}
	key := r.lockKey(l.Key)
	for range 10 { // the key can lapse between SET NX and the script
		ok, err := r.client.SetArgs(ctx, key, v, redis.SetArgs{Mode: "NX", ExpireAt: l.Expires}).Result()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return Lock{}, false, fmt.Errorf("locking: taking lock %+v for pull %d: %w", l.Key, l.Pull, err)
		case ok == "OK":
			return l, true, nil
		}
		res, err := relockScript.Run(ctx, r.client, []string{key}, l.Pull, pexpireAt(l.Expires)).Slice()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil || len(res) != 2 {
			return Lock{}, false, fmt.Errorf("locking: taking lock %+v for pull %d: %w", l.Key, l.Pull, cmp.Or(err, errors.New("locking: unexpected reply")))
		}
		holder, err := parseLockValue(fmt.Sprint(res[1]))
		if err != nil {
			return Lock{}, false, err
		}
		acquired := res[0] == int64(1)
		if acquired {
			holder.Expires = l.Expires
		} else if holder.Expires, err = r.expiry(ctx, key); err != nil {
			return Lock{}, false, err
		}
		return holder, acquired, nil
	}
	return Lock{}, false, fmt.Errorf("locking: taking lock %+v for pull %d: it kept changing hands", l.Key, l.Pull)
}

// expiry returns when key expires: zero for never, or for a key gone.
func (r *Redis) expiry(ctx context.Context, key string) (time.Time, error) {
	ms, err := r.client.PExpireTime(ctx, key).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("locking: reading the expiry of a lock: %w", err)
	}
	if ms <= 0 {
		return time.Time{}, nil
	}
	return time.UnixMilli(int64(ms / time.Millisecond)).UTC(), nil
}

// Unlock implements Locker.
func (r *Redis) Unlock(ctx context.Context, key Key, pull int) (bool, error) {
	n, err := unlockScript.Run(ctx, r.client, []string{r.lockKey(key)}, pull).Int()
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
		pipe := r.client.Pipeline()
		gets := make([]*redis.StringCmd, len(chunk))
		exps := make([]*redis.DurationCmd, len(chunk))
		for i, k := range chunk {
			gets[i] = pipe.Get(ctx, k)
			exps[i] = pipe.PExpireTime(ctx, k)
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
