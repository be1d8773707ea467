package joblog_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/atoll-iac/atoll/locking/redistest"
	"github.com/atoll-iac/atoll/runner/joblog"
)

// jobLines is how many lines a benchmark appends to one job before it
// starts another, so that no job reaches MaxOutput (and appends stay
// appends, not dropped bytes).
const jobLines = 10_000

// BenchmarkAppend measures a 100-byte line appended to a running job's
// output, in each store, against the raw write it builds on on the same
// disk or server (a bbolt transaction putting the line; an APPEND): their
// ratio is what the record, the cap and the expiry cost.
func BenchmarkAppend(b *testing.B) {
	line := append(bytes.Repeat([]byte("x"), 99), '\n')
	b.Run("Bolt", func(b *testing.B) {
		dir := b.TempDir()
		s := openBolt(b, filepath.Join(dir, "jobs.db"), 0)
		db, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		n := uint64(0)
		raw := func(b *testing.B) {
			err := db.Update(func(tx *bolt.Tx) error {
				bkt, err := tx.CreateBucketIfNotExists([]byte("raw"))
				if err != nil {
					return err
				}
				n++
				return bkt.Put(binary.BigEndian.AppendUint64(nil, n), line)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		benchAppend(b, s, line, raw)
	})
	b.Run("Redis", func(b *testing.B) {
		client := redistest.Start(b, redistest.Options{}).Client(b)
		s := joblog.NewRedis(client, "bench:", 0)
		raw := func(b *testing.B) {
			if err := client.Append(b.Context(), "bench:raw", string(line)).Err(); err != nil {
				b.Fatal(err)
			}
		}
		benchAppend(b, s, line, raw)
	})
}

// benchAppend runs the store's Append, the raw write, and both in turn
// for their ratio, so that a busy machine weighs on both alike.
func benchAppend(b *testing.B, s joblog.Store, line []byte, raw func(b *testing.B)) {
	jobs, lines := 0, jobLines
	appendLine := func(b *testing.B) {
		if lines == jobLines {
			jobs, lines = jobs+1, 0
			if err := s.Create(b.Context(), joblog.Record{ID: fmt.Sprint("job-", jobs), Repo: "owner/repo"}); err != nil {
				b.Fatal(err)
			}
		}
		lines++
		if err := s.Append(b.Context(), fmt.Sprint("job-", jobs), line); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			appendLine(b)
		}
	})
	b.Run("Raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw(b)
		}
	})
	b.Run("Ratio", func(b *testing.B) {
		var appended, rawly time.Duration
		for b.Loop() {
			start := time.Now()
			appendLine(b)
			mid := time.Now()
			raw(b)
			appended, rawly = appended+mid.Sub(start), rawly+time.Since(mid)
		}
		b.ReportMetric(float64(appended)/float64(rawly), "x-raw")
	})
}
