package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/atoll-iac/atoll/locking/redistest"
)

// BenchmarkEnqueueToStart measures how long a task waits between its
// Enqueue and a waiting consumer's Claim returning it, with its Done.
func BenchmarkEnqueueToStart(b *testing.B) {
	client := redistest.Start(b, redistest.Options{}).Client(b)
	run := 0
	stores := map[string]func(b *testing.B) Store{
		"bolt": func(b *testing.B) Store {
			ts, err := OpenBolt(filepath.Join(b.TempDir(), "tasks.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { ts.Close() })
			return ts
		},
		"redis": func(b *testing.B) Store {
			run++
			ts, err := NewRedis(b.Context(), client, fmt.Sprintf("bench%d:", run))
			if err != nil {
				b.Fatal(err)
			}
			return ts
		},
	}
	for name, open := range stores {
		b.Run(name, func(b *testing.B) {
			ts := open(b)
			ctx, cancel := context.WithCancel(b.Context())
			claimed := make(chan Task)
			var wg sync.WaitGroup
			wg.Go(func() {
				for ctx.Err() == nil {
					t, ok, err := ts.Claim(ctx, "w", time.Minute, 200*time.Millisecond)
					if err != nil || !ok {
						continue
					}
					select {
					case claimed <- t:
					case <-ctx.Done():
					}
				}
			})
			defer wg.Wait()
			defer cancel()
			for b.Loop() {
				want, err := ts.Enqueue(b.Context(), "g", []byte("job"))
				if err != nil {
					b.Fatal(err)
				}
				if got := <-claimed; got.ID != want.ID {
					b.Fatalf("claimed %s, want %s", got.ID, want.ID)
				}
				if err := ts.Done(b.Context(), want.ID, "w"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
