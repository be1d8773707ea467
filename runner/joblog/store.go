package joblog

import (
	"encoding/binary"
	"time"
)

// DefaultRetention is how long a job is kept after its last change when
// a store is given a retention of 0.
const DefaultRetention = 14 * 24 * time.Hour

// keptData is the most of a job's own output kept before the cut: a cut
// output is keptData bytes of it followed by Truncated, MaxOutput bytes
// in all.
const keptData = MaxOutput - len(Truncated)

// fit says what of p is kept when it is appended to an output of size
// bytes, so that the kept output only ever grows, and a byte once read
// never changes: output is kept whole while it is at most keptData bytes
// long; the append that would take it past keptData keeps what fits and
// then Truncated (cut is true), which makes it exactly MaxOutput bytes;
// appends to a cut output (size > keptData) keep nothing.
//
// So an output of keptData+1 to MaxOutput bytes is cut too: keeping it
// whole would leave no room for the note should more come, and taking
// back bytes a reader may already have seen would break the promise that
// reading a running job in pieces gives exactly its output.
func fit(size int64, p []byte) (keep []byte, cut bool) {
	room := int64(keptData) - size
	switch {
	case room < 0:
		return nil, false
	case int64(len(p)) <= room:
		return p, false
	}
	return p[:room], true
}

// retentionOrDefault is retention, or DefaultRetention for 0.
func retentionOrDefault(retention time.Duration) time.Duration {
	if retention <= 0 {
		return DefaultRetention
	}
	return retention
}

// orderKey is where a job created at created sorts in List, oldest
// first: its creation time in microseconds (what a Redis score holds
// exactly), big-endian with the sign bit flipped so that byte order is
// time order, then its id. Redis orders its sorted set the same way:
// by score, then by member.
func orderKey(created time.Time, id string) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(created.UnixMicro())^1<<63)
	return append(k, id...)
}

// normalize prepares r for Create: a zero State is Queued, a zero
// Created is now, and the output is empty.
func normalize(r Record, now time.Time) Record {
	if r.State == "" {
		r.State = Queued
	}
	if r.Created.IsZero() {
		r.Created = now.UTC()
	}
	r.Size = 0
	return r
}

// applyChange runs change on a copy of held and returns held with only
// the fields Update may change taken from the copy.
func applyChange(held Record, change func(*Record)) Record {
	c := held
	change(&c)
	held.State, held.Started, held.Ended, held.Projects = c.State, c.Started, c.Ended, c.Projects
	return held
}
