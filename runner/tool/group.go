package tool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runGroup runs cmd, started by start, in a process group of its own (and,
// with ownPIDs, a PID namespace of its own), with what cmd.Stdout does not
// take of its output written to out. Cancelling cmd's context interrupts
// the group, which has grace to exit before it is killed. When cmd's
// process ends, what it left running in its group is killed: a step's
// background processes do not outlive it. A process can leave its group
// (setsid), not its PID namespace, all of which the kernel kills when the
// namespace's first process ends.
func runGroup(cmd *exec.Cmd, start func() error, out io.Writer, grace time.Duration, ownPIDs bool, user *User) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if user != nil {
		// No supplementary groups: root's are not the step's.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(user.UID), Gid: uint32(user.GID), Groups: []uint32{}}
	}
	if ownPIDs {
		pidNamespace(cmd.SysProcAttr, user == nil)
	}
	// Once the process has exited, its group is not signalled: its pid
	// may be another's once reaped.
	var (
		mu     sync.Mutex
		exited bool
	)
	cmd.Cancel = func() error {
		mu.Lock()
		defer mu.Unlock()
		if exited {
			return os.ErrProcessDone
		}
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	}
	cmd.WaitDelay = grace
	// A pipe of our own, not one os/exec copies from: its Wait would wait
	// for every process holding the pipe, the background ones included.
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	if cmd.Stdout == nil {
		cmd.Stdout = pw
	}
	cmd.Stderr = pw
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.Copy(out, pr)
	}()
	err = start()
	pw.Close()
	if err != nil {
		<-copied
		return err
	}
	pid := cmd.Process.Pid
	// Until Wait reaps the process, its pid, and so its group's, cannot be
	// taken by another.
	waitExited(pid)
	mu.Lock()
	exited = true
	mu.Unlock()
	syscall.Kill(-pid, syscall.SIGKILL)
	err = cmd.Wait()
	select {
	case <-copied:
	case <-time.After(time.Second):
		// A process that left the group holds the pipe: its output is cut.
		pr.Close()
		<-copied
	}
	return err
}

// pidNamespace has a step start in a PID namespace of its own, inside a
// user namespace of its own that maps no user: the step keeps atoll's
// user for its files, and has no capability, there or past it (the
// kernel gives an unmapped user none at exec). A step of a root atoll
// owns root's files that Landlock lets it reach, and no more: it cannot
// load kernel modules, make devices, or use raw sockets. (Mapping a user
// would mean writing the child's uid_map from the starting thread, which
// Landlock confines.)
//
// A step that runs as another user needs no user namespace: root makes
// the PID namespace, and the user has no capability; nor could it have
// one, its user being unmapped there.
func pidNamespace(attr *syscall.SysProcAttr, newUser bool) {
	attr.Cloneflags |= syscall.CLONE_NEWPID
	if newUser {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
	}
}

// OwnPIDs reports whether steps can run in PID namespaces of their own
// here, or says why not (a container that forbids it, say).
func OwnPIDs() error {
	cmd := exec.Command("/bin/sh", "-c", "exit 0")
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	pidNamespace(cmd.SysProcAttr, true)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cannot start a process in a PID namespace of its own: %w", err)
	}
	return nil
}

// waitExited waits until process pid has exited, leaving it to be reaped.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}
