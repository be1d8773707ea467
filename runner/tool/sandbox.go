package tool

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// A step's code is the pull request's: it may read any file its process
// can, and print it. The sandbox is the first fence against that: each
// step runs under Landlock, which lets it write only its own checkout and
// home, and read only those, the tool, and the system files a tool needs;
// not the server's data directory, other pull requests' checkouts, or
// /proc, where the server's own environment is. The network stays open:
// providers need it. Redaction of the output is the second fence.

// Sandbox says how steps are confined. The zero value confines nothing.
type Sandbox struct {
	// On confines every step with Landlock; SandboxABI says whether the
	// kernel can.
	On bool
	// ReadOnly are directories every step may read and run files from,
	// besides the system's and the tool's own.
	ReadOnly []string
	// OwnPIDs runs each step in a PID namespace of its own, so that
	// nothing it starts outlives it, not even a process that left its
	// group; OwnPIDs says whether the system lets it.
	OwnPIDs bool
	// User, when set, is who steps run as: for a server that runs as
	// root. Root is then the data directory, under which the way to what
	// a step writes is opened to it.
	User *User
	Root string
}

// systemDirs and systemFiles are what every confined step may read:
// programs, their libraries, and the configuration they need to resolve
// names and trust certificates. Those a machine lacks are skipped.
var (
	systemDirs = []string{
		"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
		"/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/alternatives",
	}
	systemFiles = []string{
		"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
		"/etc/services", "/etc/protocols", "/etc/passwd", "/etc/group", "/etc/localtime",
		"/dev/urandom", "/dev/random",
	}
)

// devices are the files every confined step may write: the harmless ones.
var devices = []string{"/dev/null", "/dev/zero", "/dev/full"}

// SandboxABI is the Landlock ABI version of the running kernel, or an
// error saying why it has none.
func SandboxABI() (int, error) {
	abi, err := ll.LandlockGetABIVersion()
	if err != nil {
		return 0, fmt.Errorf("this kernel has no Landlock (%w); it needs Linux 5.13 or later with Landlock enabled (lsm=landlock)", err)
	}
	return abi, nil
}

// sandboxConfig restricts every filesystem access the kernel knows of
// (connecting to a Unix socket by its path only from ABI 9), and signals
// and abstract sockets reaching out of the sandbox; not the network.
var sandboxConfig = landlock.Config{
	HandledAccessFS: landlock.V9.HandledAccessFS,
	Scoped:          landlock.V9.Scoped,
}.BestEffort()

// writeAccess is what a step may do where it may write: everything but
// making device files, through which root would read any disk, and
// ioctls on devices.
var writeAccess = landlock.V9.HandledAccessFS &^ (ll.AccessFSMakeChar | ll.AccessFSMakeBlock | ll.AccessFSIoctlDev | ll.AccessFSResolveUnix)

// confinement is what one step may reach.
type confinement struct {
	// write are directories the step may read and write.
	write []string
	// files are files it may read and write; reads, files it may read.
	files, reads []string
	// read are directories it may read and run files from.
	read []string
	// runs are programs it may run, besides the system's.
	runs []string
}

// confinement is what step s, running the program at path, may reach:
// its checkout and home (and, for an init, the plugin cache, which every
// step may read: init links providers into it), its files, the program,
// and the system.
func (r *Runner) confinement(s Step, path string, pluginCache string) confinement {
	c := confinement{write: []string{s.Home, cmpDir(s.Checkout, s.Dir)}, files: s.Files, reads: s.Reads}
	if pluginCache != "" {
		c.write = append(c.write, pluginCache)
	}
	c.read = slices.Concat(systemDirs, r.sandbox.ReadOnly)
	if r.pluginCache != "" {
		c.read = append(c.read, r.pluginCache)
	}
	for _, p := range append([]string{path}, s.Runs...) {
		c.runs = append(c.runs, programFiles(p)...)
	}
	return c
}

// cmpDir is the checkout, or the step's directory when it has none.
func cmpDir(checkout, dir string) string {
	if checkout != "" {
		return checkout
	}
	return dir
}

// programFiles are the files a step needs to run the program at path:
// it, and, when it is a link, its target; nothing for a relative path,
// which is the checkout's. Not their directories: a tool kept in a home
// directory would open all of it.
func programFiles(path string) []string {
	if !filepath.IsAbs(path) {
		return nil
	}
	files := []string{path}
	if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
		files = append(files, real)
	}
	return files
}

func (c confinement) rules() []landlock.Rule {
	return []landlock.Rule{
		landlock.PathAccess(writeAccess, c.write...).WithRefer(),
		landlock.RWFiles(c.files...),
		landlock.RWFiles(devices...).IgnoreIfMissing(),
		landlock.ROFiles(systemFiles...).IgnoreIfMissing(),
		landlock.ROFiles(c.runs...).IgnoreIfMissing(),
		landlock.ROFiles(c.reads...),
		landlock.RODirs(c.read...).IgnoreIfMissing(),
	}
}

// makeFiles creates those of files that do not exist, empty, so that a
// rule can name them; it returns those it made.
func makeFiles(files []string) ([]string, error) {
	var made []string
	for _, name := range files {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return made, fmt.Errorf("tool: creating %s for the step: %w", name, err)
		}
		f.Close()
		made = append(made, name)
	}
	return made, nil
}

// removeEmpty removes those of files the step left empty: it did not
// write them, and an empty file is not one it wrote.
func removeEmpty(files []string) {
	for _, name := range files {
		if fi, err := os.Lstat(name); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
			os.Remove(name)
		}
	}
}

// startConfined starts cmd confined to c. Landlock confines a thread and
// what it starts; so a thread of its own starts cmd, and ends with the
// goroutine that locked it, never to run anything else.
func startConfined(cmd *exec.Cmd, c confinement) error {
	fd, flags, err := sandboxConfig.NewRulesetFD(c.rules()...)
	if err != nil {
		return fmt.Errorf("tool: building the sandbox: %w", err)
	}
	if fd < 0 {
		return errors.New("tool: this kernel cannot confine the step (no Landlock)")
	}
	defer unix.Close(fd)
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is confined
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			started <- fmt.Errorf("tool: no_new_privs: %w", err)
			return
		}
		if err := ll.LandlockRestrictSelf(fd, flags); err != nil {
			started <- fmt.Errorf("tool: confining the step: %w", err)
			return
		}
		started <- cmd.Start()
	}()
	return <-started
}
