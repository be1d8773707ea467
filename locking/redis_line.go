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

// entry is what a line entry records after its pull request's number:
// the waiter, and the key it waits for, which a script hands over with.
type entry struct {
	Key Key
	Waiter
}

// entryValue is key's line entry for w: "PULL JSON", as lockValue.
func entryValue(key Key, w Waiter) (string, error) {
	b, err := json.Marshal(entry{Key: key, Waiter: w})
	if err != nil {
		return "", err
	}
	return strconv.Itoa(w.Pull) + " " + string(b), nil
}

func parseEntry(v string) (entry, error) {
	var e entry
	_, js, ok := strings.Cut(v, " ")
	if !ok {
		return entry{}, fmt.Errorf("locking: decoding line entry %q", v)
	}
	if err := json.Unmarshal([]byte(js), &e); err != nil {
		return entry{}, fmt.Errorf("locking: decoding line entry: %w", err)
	}
	return e, nil
}

// leaveScript takes the pull request ARGV[1] out of the line KEYS[1], and
// the line out of the set of lines KEYS[2] when no one is left in it. It
// returns 1 when ARGV[1] was in it, else 0.
var leaveScript = redis.NewScript(luaLine + `
local at = place(KEYS[1], ARGV[1])
if at == 0 then return 0 end
redis.call('LREM', KEYS[1], 1, redis.call('LINDEX', KEYS[1], at - 1))
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], KEYS[1]) end
return 1
`)

// Leave implements Liner in one script run.
func (r *Redis) Leave(ctx context.Context, key Key, pull int) (bool, error) {
	n, err := leaveScript.Run(ctx, r.client, []string{r.lineKey(key), r.linesKey()}, pull).Int()
	if err != nil {
		return false, fmt.Errorf("locking: taking pull %d out of the line for %+v: %w", pull, key, err)
	}
	return n == 1, nil
}

// linesScript returns the entries of every line in the set KEYS[1].
var linesScript = redis.NewScript(`
local lines = {}
for _, line in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local es = redis.call('LRANGE', line, 0, -1)
  if #es > 0 then table.insert(lines, es) end
end
return lines
`)

// Lines implements Liner in one script run.
func (r *Redis) Lines(ctx context.Context) ([]Line, error) {
	res, err := linesScript.Run(ctx, r.client, []string{r.linesKey()}).Slice()
	if err != nil {
		return nil, fmt.Errorf("locking: listing lines: %w", err)
	}
	lines := make([]Line, 0, len(res))
	for _, es := range res {
		es, _ := es.([]any)
		var line Line
		for _, v := range es {
			e, err := parseEntry(fmt.Sprint(v))
			if err != nil {
				return nil, err
			}
			line.Key = e.Key
			line.Waiting = append(line.Waiting, e.Waiter)
		}
		lines = append(lines, line)
	}
	slices.SortFunc(lines, func(a, b Line) int { return compareKeys(a.Key, b.Key) })
	return lines, nil
}

// passScript hands every lock key that is free and has a line in the set
// KEYS[1] to the first in it, at ARGV[2] (RFC 3339), ARGV[3] (ms); ARGV[1]
// is the prefix, which names a line's lock key. It then returns, for
// every key in the set of turns KEYS[2] that still exists, {its value,
// its expiry in ms}, and drops the others from the set.
var passScript = redis.NewScript(luaLine + `
for _, line in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local lock = ARGV[1] .. 'lock:' .. string.sub(line, #ARGV[1] + #'line:' + 1)
  if redis.call('EXISTS', lock) == 0 then
    local first = redis.call('LPOP', line)
    if first then hand(lock, KEYS[2], first, ARGV[2], ARGV[3]) end
    if redis.call('LLEN', line) == 0 then redis.call('SREM', KEYS[1], line) end
  end
end
local turns = {}
for _, lock in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local v = redis.call('GET', lock)
  if v then
    table.insert(turns, {v, redis.call('PEXPIRETIME', lock)})
  else
    redis.call('SREM', KEYS[2], lock)
  end
end
return turns
`)

// Pass implements Liner in one script run.
func (r *Redis) Pass(ctx context.Context) ([]Lock, error) {
	now := time.Now().UTC()
	res, err := passScript.Run(ctx, r.client, []string{r.linesKey(), r.turnsKey()}, r.prefix, now.Format(time.RFC3339Nano), now.UnixMilli()).Slice()
	if err != nil {
		return nil, fmt.Errorf("locking: passing locks to their lines: %w", err)
	}
	turns := make([]Lock, 0, len(res))
	for _, t := range res {
		t, _ := t.([]any)
		if len(t) != 2 {
			return nil, errors.New("locking: passing locks to their lines: unexpected reply")
		}
		l, err := parseLockValue(fmt.Sprint(t[0]))
		if err != nil {
			return nil, err
		}
		l.Expires, l.Turn = fromMillis(t[1]), true
		turns = append(turns, l)
	}
	slices.SortFunc(turns, compareLocks)
	return turns, nil
}
