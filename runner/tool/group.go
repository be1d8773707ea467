package tool

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runGroup runs cmd, started by start, in a process group of its own, with
// what cmd.Stdout does not take of its output written to out. Cancelling
// cmd's context interrupts the group, which has grace to exit before it is
// killed. When cmd's process ends, what it left running in its group is
// killed: a step's background processes do not outlive it.
func runGroup(cmd *exec.Cmd, start func() error, out io.Writer, grace time.Duration) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
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
