package server

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking"
	"github.com/atoll-iac/atoll/locking/redistest"
)

func TestSharedDeliveries(t *testing.T) {
	t.Parallel()
	bolt, err := locking.OpenBolt(filepath.Join(t.TempDir(), "locks.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bolt.Close() })
	stores := map[string]locking.Leaser{
		"bolt":  bolt,
		"redis": locking.NewRedis(redistest.Start(t, redistest.Options{}).Client(t), "deliveries:"),
	}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			// Replicas racing for one delivery: one runs it.
			replicas := []deliveryLog{sharedDeliveries{store, time.Hour}, sharedDeliveries{store, time.Hour}}
			var (
				mu      sync.Mutex
				winners int
				forgets []func()
				wg      sync.WaitGroup
			)
			for i := range 20 {
				wg.Go(func() {
					forget, isNew, err := replicas[i%2].first(t.Context(), "delivery-1")
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					defer mu.Unlock()
					if isNew {
						winners++
						forgets = append(forgets, forget)
					}
				})
			}
			wg.Wait()
			if winners != 1 {
				t.Fatalf("%d attempts ran delivery-1, want 1", winners)
			}
			if _, isNew, _ := replicas[1].first(t.Context(), "delivery-2"); !isNew {
				t.Error("another delivery was taken for a repeat")
			}
			// A delivery forgotten (its job could not be queued) runs on
			// the forge's retry.
			forgets[0]()
			if _, isNew, err := replicas[1].first(t.Context(), "delivery-1"); err != nil || !isNew {
				t.Errorf("the retry of a forgotten delivery: new = %v, %v", isNew, err)
			}
			if _, isNew, _ := replicas[0].first(t.Context(), ""); !isNew {
				t.Error("a delivery without an id was not run")
			}
		})
	}
}
