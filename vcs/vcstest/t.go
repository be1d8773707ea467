package vcstest

import "context"

// T is what the fakes need of whoever drives them: a test's testing.TB,
// or a program that shows a fake forge to people (atoll testdrive). The
// fakes call Fatalf when a helper cannot do what it was asked, as a
// test's setup fails; Fatalf must not return.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	// TempDir returns a new directory, removed when the driver is done.
	TempDir() string
	// Cleanup registers a function to call when the driver is done.
	Cleanup(func())
	// Context is cancelled when the driver is done.
	Context() context.Context
}
