// Package redistest runs real redis-server processes for tests: each on a
// free loopback port, in a directory of its own, stopped when the test
// ends. redis-server must be installed (Debian: apt-get install
// redis-server).
package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configure a server.
type Options struct {
	// AppendOnly turns the append-only file on (fsync every write), so
	// that a restarted server keeps what it was told.
	AppendOnly bool
}

// Server is a running redis-server.
type Server struct {
	// Addr is host:port.
	Addr string
	t    testing.TB
	bin  string
	dir  string
	opts Options
	cmd  *exec.Cmd
	out  *bytes.Buffer
	// exited is closed once cmd has exited.
	exited chan struct{}
}

// Start starts a redis-server and stops it when t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on PATH: install it (Debian: apt-get install redis-server): %v", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), opts: opts}
	var last error
	for range 5 { // a free port can be taken between picking and binding
		if s.Addr, err = freeAddr(); err != nil {
			t.Fatal(err)
		}
		if last = s.start(); last == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("starting redis-server: %v", last)
	return nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs redis-server on s.Addr and waits until it answers.
func (s *Server) start() error {
	host, port, _ := net.SplitHostPort(s.Addr)
	aof := "no"
	if s.opts.AppendOnly {
		aof = "yes"
	}
	s.out = new(bytes.Buffer)
	s.cmd = exec.Command(s.bin, "--port", port, "--bind", host, "--dir", s.dir, "--save", "",
		"--appendonly", aof, "--appendfsync", "always", "--daemonize", "no", "--protected-mode", "yes")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); close(exited) }()
	s.exited = exited
	client := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer client.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %s", s.out)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := client.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("redis-server did not answer within 10s: %s", s.out)
}

// Client returns a client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// Stop kills the server, as a crash would, and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart stops the server and starts it again on the same address and
// directory: with AppendOnly, it comes back with what it held.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("restarting redis-server: %v", err)
	}
}
