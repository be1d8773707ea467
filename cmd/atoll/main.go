// Command atoll is the pull-request automation server for OpenTofu and
// Terraform. This package reads flags and the environment, builds the
// server's Config, and runs it; the work lives in ../../server. It also
// holds the commands around the server: atoll ci and atoll forward for
// CI jobs, atoll projects, and atoll testdrive, which plays a pull
// request's story through the fake forge (vcs/vcstest) and a sample
// repository, offline.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/atoll-iac/atoll/server"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// Processes of atoll's user, the tools it runs among them, cannot read
	// its memory or its environment (/proc/PID/environ), where its secrets
	// are. Its command line stays readable by all: hence the -file flags.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "atoll: cannot make the process undumpable: %v\n", err)
		os.Exit(1)
	}
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run is main without the process: it runs args in the environment
// environ (KEY=value entries) and returns the exit code, 2 for a usage
// error.
func run(args, environ []string, stdout, stderr io.Writer) int {
	getenv := lookup(environ)
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return 2
	}
	switch args[0] {
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "atoll", version)
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, topUsage)
		return 0
	case "projects":
		return projects(context.Background(), args[1:], getenv, stdout, stderr)
	case "forward":
		return forward(context.Background(), args[1:], getenv, stdout, stderr)
	case "ci":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return ci(ctx, args[1:], environ, stdout, stderr)
	case "drift":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return drift(ctx, args[1:], environ, getenv, stdout, stderr)
	case "testdrive":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		// Output piped to a reader that goes (| head) fails to write
		// rather than killing the process before it removes what it made.
		// (Caught, not ignored: the tools it runs keep the default.)
		signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
		return testdrive(ctx, args[1:], getenv, environ, os.Stdin, stdout, stderr)
	case "server":
		cfg, err := readServerFlags(args[1:], getenv, stdout, stderr)
		if errors.Is(err, errHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "atoll server: %v\n", err)
			return 2
		}
		for _, name := range secretsOnCommandLine(args[1:]) {
			cfg.Logger.Warn("a secret on the command line can be read by every local user (/proc/PID/cmdline): use --"+name+"-file or "+envName(name), "flag", "--"+name)
		}
		cfg.Env = environ
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := server.Run(ctx, cfg); err != nil {
			fmt.Fprintf(stderr, "atoll server: %v\n", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "atoll: unknown command %q; run 'atoll help'\n", args[0])
	return 2
}

// lookup returns a function that looks a variable up in environ, the
// last entry for it winning, as in a process's environment.
func lookup(environ []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for i := len(environ) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(environ[i], "="); ok && k == name {
				return v, true
			}
		}
		return "", false
	}
}

const topUsage = `atoll runs OpenTofu/Terraform plans for pull requests.

Usage:
  atoll server [flags]   serve webhooks (atoll server -h lists the flags)
  atoll projects         print which projects a pull request from this checkout would plan, and why
  atoll ci [plan|apply]  in a CI job, do at once what its event asks, with no server
  atoll forward --url U  in a CI job, send its event to the atoll server at U as the forge would
  atoll drift [flags]    check each repository in scope for drift once (the server's flags); exit 2 on drift
  atoll testdrive        watch atoll plan and apply a pull request, on this machine alone
  atoll version          print the version
`
