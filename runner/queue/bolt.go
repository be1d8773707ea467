package queue

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/atoll-iac/atoll/runner/internal/groupcommit"
)

// taskBucket holds one record a task: its sequence number (big-endian, so
// that keys sort in order) → JSON of boltTask; turnBucket one a group with
// tasks not done: its name → JSON of turns.
const (
	taskBucket = "tasks"
	turnBucket = "turns"
	markBucket = "marks" // mark key → JSON of boltMark
)

// boltMark is a mark's value, its order, and when it lapses.
type boltMark struct {
	Value string
	Order int64 `json:",omitempty"`
	Until time.Time
}

// turns are where a group stands: the last turn handed out, the last one
// up to which all are done, and those done out of turn beyond it.
type turns struct {
	Last, Served int64
	Ahead        []int64 `json:",omitempty"`
}

// done ends turn.
func (tr *turns) done(turn int64) {
	switch {
	case turn == tr.Served+1:
		tr.Served = turn
		for i := slices.Index(tr.Ahead, tr.Served+1); i >= 0; i = slices.Index(tr.Ahead, tr.Served+1) {
			tr.Ahead = slices.Delete(tr.Ahead, i, i+1)
			tr.Served++
		}
	case turn > tr.Served+1 && !slices.Contains(tr.Ahead, turn):
		tr.Ahead = append(tr.Ahead, turn)
	}
}

func getTurns(bkt *bolt.Bucket, group string) (turns, error) {
	var tr turns
	if v := bkt.Get([]byte(group)); v != nil {
		if err := json.Unmarshal(v, &tr); err != nil {
			return turns{}, fmt.Errorf("queue: decoding turns: %w", err)
		}
	}
	return tr, nil
}

// putTurns stores tr, or forgets a group whose turns are all done.
func putTurns(bkt *bolt.Bucket, group string, tr turns) error {
	if tr.Served >= tr.Last {
		return bkt.Delete([]byte(group))
	}
	v, err := json.Marshal(tr)
	if err != nil {
		return err
	}
	return bkt.Put([]byte(group), v)
}

// Bolt is a Store in a bbolt file, for the consumers of one
// process: bbolt lets one process open the file at a time.
type Bolt struct {
	db *bolt.DB
	// writes commits the changes of callers writing at once together.
	writes *groupcommit.Committer
	// queued wakes a waiting Claim when a task is enqueued.
	queued chan struct{}
	// pruned is when lapsed marks were last deleted (Unix seconds).
	pruned atomic.Int64
}

var _ Store = (*Bolt)(nil)

type boltTask struct {
	Task
	// Holder and Until say who holds the task until when; "" when no one.
	Holder string
	Until  time.Time
	// Released lists the claims (Task.Claims) whose runs were released.
	Released []int `json:",omitempty"`
}

// releasedBefore counts the claims in released before claim: the
// earlier runs of a task claimed for the claim-th time that were
// released.
func releasedBefore(released []int, claim int) int {
	n := 0
	for _, c := range released {
		if c < claim {
			n++
		}
	}
	return n
}

// OpenBolt opens, or creates, the task store at path. Claims made
// before are void: whoever held them was an earlier run of this process,
// now gone, so their tasks are handed out again at once (their Claims
// tell that they were started).
func OpenBolt(path string) (*Bolt, error) {
	// The free pages are not written at each commit but found again when
	// the file opens: a commit writes, and syncs, one page fewer, and the
	// file is small enough to scan at start.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("queue: opening task store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists([]byte(turnBucket)); err != nil {
			return err
		}
		if err := pruneMarks(tx); err != nil {
			return err
		}
		// Before marks, delivery ids were kept in a bucket of their own.
		if tx.Bucket([]byte("once")) != nil {
			if err := tx.DeleteBucket([]byte("once")); err != nil {
				return err
			}
		}
		bkt, err := tx.CreateBucketIfNotExists([]byte(taskBucket))
		if err != nil {
			return err
		}
		c := bkt.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var t boltTask
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("queue: decoding task: %w", err)
			}
			if t.Holder == "" {
				continue
			}
			t.Holder, t.Until = "", time.Time{}
			if err := putTask(bkt, k, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("queue: task store %s: %w", path, err), db.Close())
	}
	return &Bolt{db: db, writes: groupcommit.New(db), queued: make(chan struct{}, 1)}, nil
}

// Close releases the file, once the writes under way are done.
func (b *Bolt) Close() error {
	b.writes.Close()
	return b.db.Close()
}

func putTask(bkt *bolt.Bucket, k []byte, t boltTask) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return bkt.Put(k, v)
}

func taskKey(id string) ([]byte, error) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("queue: task id %q: %w", id, ErrNotHeld)
	}
	return binary.BigEndian.AppendUint64(nil, n), nil
}

// Enqueue implements Store; the record is on disk when it returns.
func (b *Bolt) Enqueue(ctx context.Context, group string, body []byte) (Task, error) {
	t, _, err := b.EnqueueOnce(ctx, Mark{}, group, body)
	return t, err
}

// EnqueueOnce implements Store; marks live in the same file, and those
// lapsed are pruned when the store opens and hourly.
func (b *Bolt) EnqueueOnce(ctx context.Context, m Mark, group string, body []byte) (Task, bool, error) {
	if err := ctx.Err(); err != nil {
		return Task{}, false, err
	}
	var t boltTask
	var isNew bool
	err := b.writes.Update(func(tx *bolt.Tx) error {
		t, isNew = boltTask{}, true
		if m.Key != "" {
			if held, err := b.marked(tx, m.Key); err != nil || held.Value == m.Value || held.Order > m.Order && m.Order != 0 {
				isNew = false
				return err
			}
			if err := putMark(tx, m); err != nil {
				return err
			}
		}
		tbkt := tx.Bucket([]byte(turnBucket))
		tr, err := getTurns(tbkt, group)
		if err != nil {
			return err
		}
		tr.Last++
		if err := putTurns(tbkt, group, tr); err != nil {
			return err
		}
		t.Task = Task{Group: group, Turn: tr.Last, Body: body, Enqueued: time.Now().UTC()}
		return b.append(tx.Bucket([]byte(taskBucket)), &t)
	})
	if err != nil {
		return Task{}, false, fmt.Errorf("queue: enqueueing a task: %w", err)
	}
	if isNew {
		b.wake()
	}
	return t.Task, isNew, nil
}

// SetMark implements Store.
func (b *Bolt) SetMark(ctx context.Context, m Mark) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.writes.Update(func(tx *bolt.Tx) error { return putMark(tx, m) }); err != nil {
		return fmt.Errorf("queue: setting mark %s: %w", m.Key, err)
	}
	return nil
}

// Marked implements Store.
func (b *Bolt) Marked(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var m boltMark
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		m, err = b.marked(tx, key)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("queue: reading mark %s: %w", key, err)
	}
	return m.Value, nil
}

// marked returns the mark key holds in tx, the zero boltMark for none,
// pruning lapsed marks hourly when tx is writable.
func (b *Bolt) marked(tx *bolt.Tx, key string) (boltMark, error) {
	now := time.Now()
	if last := b.pruned.Load(); tx.Writable() && now.Unix()-last > 3600 && b.pruned.CompareAndSwap(last, now.Unix()) {
		if err := pruneMarks(tx); err != nil {
			return boltMark{}, err
		}
	}
	v := tx.Bucket([]byte(markBucket)).Get([]byte(key))
	if v == nil {
		return boltMark{}, nil
	}
	var m boltMark
	if err := json.Unmarshal(v, &m); err != nil || !now.Before(m.Until) {
		return boltMark{}, nil // lapsed; a mark that does not decode is lapsed too
	}
	return m, nil
}

func putMark(tx *bolt.Tx, m Mark) error {
	v, err := json.Marshal(boltMark{Value: m.Value, Order: m.Order, Until: time.Now().Add(m.TTL).UTC()})
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(markBucket)).Put([]byte(m.Key), v)
}

// pruneMarks deletes the marks that lapsed.
func pruneMarks(tx *bolt.Tx) error {
	bkt, err := tx.CreateBucketIfNotExists([]byte(markBucket))
	if err != nil {
		return err
	}
	now := time.Now()
	var old [][]byte
	err = bkt.ForEach(func(k, v []byte) error {
		var m boltMark
		if err := json.Unmarshal(v, &m); err != nil || !now.Before(m.Until) {
			old = append(old, slices.Clone(k))
		}
		return nil
	})
	for _, k := range old {
		err = errors.Join(err, bkt.Delete(k))
	}
	return err
}

// append stores t at the end of the queue, setting its id.
func (b *Bolt) append(bkt *bolt.Bucket, t *boltTask) error {
	seq, err := bkt.NextSequence()
	if err != nil {
		return err
	}
	t.ID = strconv.FormatUint(seq, 10)
	return putTask(bkt, binary.BigEndian.AppendUint64(nil, seq), *t)
}

// Ready implements Store.
func (b *Bolt) Ready(ctx context.Context, t Task) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var ready bool
	err := b.db.View(func(tx *bolt.Tx) error {
		tr, err := getTurns(tx.Bucket([]byte(turnBucket)), t.Group)
		ready = tr.Served+1 >= t.Turn
		return err
	})
	return ready, err
}

// Requeue implements Store.
func (b *Bolt) Requeue(ctx context.Context, t Task, consumer string) error {
	err := b.held(ctx, t.ID, consumer, true, func(tx *bolt.Tx, bkt *bolt.Bucket, k []byte, held boltTask) error {
		if err := bkt.Delete(k); err != nil {
			return err
		}
		held.Holder, held.Until = "", time.Time{}
		held.Claims--
		return b.append(bkt, &held)
	})
	if err == nil {
		b.wake()
	}
	return err
}

func (b *Bolt) wake() {
	select {
	case b.queued <- struct{}{}:
	default:
	}
}

// Claim implements Store.
func (b *Bolt) Claim(ctx context.Context, consumer string, ttl, wait time.Duration) (Task, bool, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		t, ok, err := b.claim(ctx, consumer, ttl)
		if err != nil || ok {
			return t, ok, err
		}
		// A lapsed claim comes back without a wake-up: look again now and
		// then.
		poll := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			poll.Stop()
			return Task{}, false, ctx.Err()
		case <-timer.C:
			poll.Stop()
			return Task{}, false, nil
		case <-b.queued:
		case <-poll.C:
		}
		poll.Stop()
	}
}

// claim takes a lapsed task, else the oldest free one whose turn has
// come. It looks in a read transaction first: most looks find nothing, and
// a write transaction syncs the file.
func (b *Bolt) claim(ctx context.Context, consumer string, ttl time.Duration) (Task, bool, error) {
	if err := ctx.Err(); err != nil {
		return Task{}, false, err
	}
	var key []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		now := time.Now()
		tbkt := tx.Bucket([]byte(turnBucket))
		served := map[string]int64{}
		c := tx.Bucket([]byte(taskBucket)).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var t boltTask
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("queue: decoding task: %w", err)
			}
			if t.Holder != "" && !now.Before(t.Until) {
				key = slices.Clone(k) // lapsed: it goes first
				return nil
			}
			if t.Holder != "" || key != nil {
				continue
			}
			s, ok := served[t.Group]
			if !ok {
				tr, err := getTurns(tbkt, t.Group)
				if err != nil {
					return err
				}
				s, served[t.Group] = tr.Served, tr.Served
			}
			if s+1 >= t.Turn {
				key = slices.Clone(k)
			}
		}
		return nil
	})
	if err != nil || key == nil {
		return Task{}, false, err
	}
	var got boltTask
	var found bool
	err = b.writes.Update(func(tx *bolt.Tx) error {
		got, found = boltTask{}, false
		bkt := tx.Bucket([]byte(taskBucket))
		v := bkt.Get(key)
		if v == nil {
			return nil // done meanwhile
		}
		if err := json.Unmarshal(v, &got); err != nil {
			return fmt.Errorf("queue: decoding task: %w", err)
		}
		now := time.Now()
		if got.Holder != "" && now.Before(got.Until) {
			return nil // claimed meanwhile
		}
		found = true
		got.Holder, got.Until = consumer, now.Add(ttl)
		got.Claims++
		got.Releases = releasedBefore(got.Released, got.Claims)
		return putTask(bkt, key, got)
	})
	if err != nil {
		return Task{}, false, fmt.Errorf("queue: claiming a task: %w", err)
	}
	return got.Task, found, nil
}

// Release implements Store.
func (b *Bolt) Release(ctx context.Context, rt Task, consumer string) error {
	return b.release(ctx, rt, consumer, true)
}

// Stopping implements Store.
func (b *Bolt) Stopping(ctx context.Context, t Task, consumer string) error {
	return b.release(ctx, t, consumer, false)
}

// release counts the release of rt's run, and lets go of the task when
// letGo is set.
func (b *Bolt) release(ctx context.Context, rt Task, consumer string, letGo bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := rt.ID
	k, err := taskKey(id)
	if err != nil {
		return err
	}
	var held bool
	err = b.writes.Update(func(tx *bolt.Tx) error {
		held = false
		bkt := tx.Bucket([]byte(taskBucket))
		v := bkt.Get(k)
		if v == nil {
			return nil
		}
		var t boltTask
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("queue: decoding task: %w", err)
		}
		if !slices.Contains(t.Released, rt.Claims) {
			t.Released = append(t.Released, rt.Claims)
		}
		if held = t.Holder == consumer; held && letGo {
			t.Until = time.Time{} // lapsed: Claim hands it out
		}
		return putTask(bkt, k, t)
	})
	switch {
	case err != nil:
		return fmt.Errorf("queue: releasing task %s: %w", id, err)
	case !held:
		return ErrNotHeld
	}
	if letGo {
		b.wake()
	}
	return nil
}

// Released implements Store.
func (b *Bolt) Released(ctx context.Context, t Task) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	k, err := taskKey(t.ID)
	if err != nil {
		return 0, err
	}
	var n int
	err = b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(taskBucket)).Get(k)
		if v == nil {
			return ErrNotHeld
		}
		var bt boltTask
		if err := json.Unmarshal(v, &bt); err != nil {
			return fmt.Errorf("queue: decoding task: %w", err)
		}
		n = releasedBefore(bt.Released, t.Claims)
		return nil
	})
	return n, err
}

// Extend implements Store.
func (b *Bolt) Extend(ctx context.Context, id, consumer string, ttl time.Duration) (bool, error) {
	err := b.held(ctx, id, consumer, false, func(_ *bolt.Tx, bkt *bolt.Bucket, k []byte, t boltTask) error {
		t.Until = time.Now().Add(ttl)
		return putTask(bkt, k, t)
	})
	if errors.Is(err, ErrNotHeld) {
		return false, nil
	}
	return err == nil, err
}

// Done implements Store. A claim that lapsed with no one taking the
// task since is still the consumer's to finish.
func (b *Bolt) Done(ctx context.Context, id, consumer string) error {
	return b.held(ctx, id, consumer, true, func(tx *bolt.Tx, bkt *bolt.Bucket, k []byte, t boltTask) error {
		if err := bkt.Delete(k); err != nil {
			return err
		}
		tbkt := tx.Bucket([]byte(turnBucket))
		tr, err := getTurns(tbkt, t.Group)
		if err != nil {
			return err
		}
		tr.done(t.Turn)
		return putTurns(tbkt, t.Group, tr)
	})
}

// held runs fn on task id in a transaction if consumer holds it (or held
// it last, when lapsed is allowed), and returns ErrNotHeld if not.
func (b *Bolt) held(ctx context.Context, id, consumer string, lapsed bool, fn func(*bolt.Tx, *bolt.Bucket, []byte, boltTask) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k, err := taskKey(id)
	if err != nil {
		return err
	}
	return b.writes.Update(func(tx *bolt.Tx) error {
		bkt := tx.Bucket([]byte(taskBucket))
		v := bkt.Get(k)
		if v == nil {
			return ErrNotHeld
		}
		var t boltTask
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("queue: decoding task: %w", err)
		}
		if t.Holder != consumer || !lapsed && !time.Now().Before(t.Until) {
			return ErrNotHeld
		}
		return fn(tx, bkt, k, t)
	})
}

// Note implements Store.
func (b *Bolt) Note(ctx context.Context, id, consumer, note string) error {
	return b.held(ctx, id, consumer, true, func(_ *bolt.Tx, bkt *bolt.Bucket, k []byte, t boltTask) error {
		t.Task.Note = note
		return putTask(bkt, k, t)
	})
}

// Oldest implements Store: tasks are kept in the order of their ids,
// which is the order they were recorded in.
func (b *Bolt) Oldest(ctx context.Context) (time.Time, bool, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, err
	}
	var t boltTask
	var ok bool
	err := b.db.View(func(tx *bolt.Tx) error {
		_, v := tx.Bucket([]byte(taskBucket)).Cursor().First()
		if v == nil {
			return nil
		}
		ok = true
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("queue: decoding task: %w", err)
		}
		return nil
	})
	return t.Enqueued, ok && err == nil, err
}

// Pending implements Store.
func (b *Bolt) Pending(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	err := b.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket([]byte(taskBucket)).Stats().KeyN
		return nil
	})
	return n, err
}
