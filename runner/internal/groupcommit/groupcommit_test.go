package groupcommit

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openCommitter(t *testing.T) (*bolt.DB, *Committer) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := New(db)
	t.Cleanup(func() {
		c.Close()
		db.Close()
	})
	if err := c.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("b"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return db, c
}

// Writes that come while a commit is under way are committed together in
// the next one, each answered once it is on disk; a write that fails, or
// panics, fails alone.
func TestCommitterGroupsWrites(t *testing.T) {
	db, c := openCommitter(t)
	const n = 100
	started := make(chan struct{}, n)
	release := make(chan struct{})
	var mu sync.Mutex
	txs := map[int]bool{} // ids of the transactions that committed writes
	put := func(i int) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			mu.Lock()
			txs[tx.ID()] = true
			mu.Unlock()
			return tx.Bucket([]byte("b")).Put([]byte(fmt.Sprint(i)), []byte("v"))
		}
	}
	errBad := errors.New("bad write")
	var wg sync.WaitGroup
	// The first write holds the writer until the others wait.
	wg.Go(func() {
		if err := c.Update(func(tx *bolt.Tx) error {
			<-release
			return put(0)(tx)
		}); err != nil {
			t.Error(err)
		}
	})
	errs := make([]error, n)
	var panics sync.Map
	for i := 1; i < n; i++ {
		wg.Go(func() {
			started <- struct{}{}
			defer func() {
				if v := recover(); v != nil {
					panics.Store(i, v)
				}
			}()
			errs[i] = c.Update(func(tx *bolt.Tx) error {
				if err := put(i)(tx); err != nil {
					return err
				}
				switch i {
				case 7:
					return errBad // after writing: its write must not stay
				case 8:
					panic("write 8")
				}
				return nil
			})
		})
	}
	for range n - 1 {
		<-started
	}
	time.Sleep(50 * time.Millisecond) // for the last to reach update
	close(release)
	wg.Wait()

	for i := 1; i < n; i++ {
		switch {
		case i == 7 && !errors.Is(errs[i], errBad):
			t.Errorf("write 7 returned %v, want its own error", errs[i])
		case i == 8:
			if v, ok := panics.Load(8); !ok || v != "write 8" {
				t.Errorf("write 8's panic reached its caller as %v", v)
			}
		case i != 7 && errs[i] != nil:
			t.Errorf("write %d: %v", i, errs[i])
		}
	}
	err := db.View(func(tx *bolt.Tx) error {
		for i := range n {
			got := tx.Bucket([]byte("b")).Get([]byte(fmt.Sprint(i)))
			if want := i != 7 && i != 8; (got != nil) != want {
				t.Errorf("write %d on disk: %t, want %t", i, got != nil, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// One commit for the first, and few for the 99 that waited, though a
	// failed write makes the others run again.
	t.Logf("%d writes in %d transactions", n, len(txs))
	if len(txs) > 8 {
		t.Errorf("%d writes took %d transactions; want them grouped", n, len(txs))
	}
}

// A write after close is refused; close waits for the writes taken.
func TestCommitterClosed(t *testing.T) {
	_, c := openCommitter(t)
	c.Close()
	if err := c.Update(func(*bolt.Tx) error { return nil }); !errors.Is(err, bolt.ErrDatabaseNotOpen) {
		t.Fatalf("a write after close returned %v", err)
	}
}
