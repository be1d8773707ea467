package workflows

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// A checkout's files are the pull request's: any of them may be a
// symbolic link to a file of the server, a device that never ends, a pipe
// no one writes, or merely huge. atoll reads them one way only, ReadFile:
// regular files inside the checkout, up to a cap.

const (
	// maxRepoConfig caps the repository config: a large monorepo's
	// generated atlantis.yaml is a few hundred kilobytes.
	maxRepoConfig = 1 << 20
	// maxHCLFile caps a configuration file read for its module blocks
	// and required_version; generated .tf.json files run to megabytes.
	maxHCLFile = 16 << 20
)

// FileError is a file of a checkout that atoll does not read. Its text
// names the file and says why, and can be shown to users as is.
type FileError struct {
	// Name is the file's path, slash-separated, relative to the root it
	// was read from.
	Name string
	// Why says what is wrong with it: "is a symbolic link; …".
	Why string
	// Err is ErrNotRegular or ErrTooLarge.
	Err error
}

func (e *FileError) Error() string { return e.Name + ": " + e.Why }

func (e *FileError) Unwrap() error { return e.Err }

var (
	// ErrNotRegular is a *FileError's Err for a file that is not a
	// regular file: a link, a directory, a device, a pipe or a socket.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge is a *FileError's Err for a file past the cap.
	ErrTooLarge = errors.New("file too large")
)

// ReadFile reads the file name (slash-separated, relative to root) when it
// is a regular file of at most max bytes. A link, which could lead to any
// file of the server, a device, a pipe and a larger file are *FileError,
// without being opened or read past max. The root keeps name's
// directories inside it, links among them included.
func ReadFile(root *os.Root, name string, max int64) ([]byte, error) {
	fi, err := root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(name, fi, max); err != nil {
		return nil, err
	}
	// The root follows a link that stays inside it, O_NOFOLLOW or not,
	// and a pipe would block the open without O_NONBLOCK: should the file
	// have been replaced since the look at it, SameFile tells.
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	opened, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !os.SameFile(fi, opened) {
		return nil, &FileError{Name: name, Why: "changed while atoll read it", Err: ErrNotRegular}
	}
	// Room for the size Stat says, and the read that finds the end.
	b := bytes.NewBuffer(make([]byte, 0, opened.Size()+bytes.MinRead))
	if _, err := b.ReadFrom(io.LimitReader(f, max+1)); err != nil {
		return nil, err
	}
	if int64(b.Len()) > max {
		return nil, tooLarge(name, max)
	}
	return b.Bytes(), nil
}

// checkRegular refuses, as *FileError, a file name that fi describes
// unless it is regular and of at most max bytes.
func checkRegular(name string, fi fs.FileInfo, max int64) error {
	var what string
	switch m := fi.Mode(); {
	case m.IsRegular() && fi.Size() > max:
		return tooLarge(name, max)
	case m.IsRegular():
		return nil
	case m&fs.ModeSymlink != 0:
		what = "is a symbolic link"
	case m.IsDir():
		what = "is a directory"
	case m&fs.ModeNamedPipe != 0:
		what = "is a named pipe"
	case m&fs.ModeDevice != 0:
		what = "is a device"
	case m&fs.ModeSocket != 0:
		what = "is a socket"
	default:
		what = "is not a regular file"
	}
	return &FileError{Name: name, Why: what + "; atoll reads only regular files", Err: ErrNotRegular}
}

func tooLarge(name string, max int64) *FileError {
	return &FileError{Name: name, Why: "is larger than " + byteSize(max), Err: ErrTooLarge}
}

// byteSize writes n bytes for people: "1 MiB", "16 KiB", "100 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// CheckVarFiles refuses, as *VarFileError, a -var-file among args (tool
// arguments for the project in dir, relative to the checkout at repoDir)
// that is not a regular file inside the checkout once links are followed:
// ParseComment checks the name, but only the checkout tells where a link
// leads, and the tool puts the lines of a file it cannot read as
// variables in its errors. Other errors are atoll's.
func CheckVarFiles(repoDir, dir string, args []string) error {
	var root *os.Root
	for _, a := range args {
		name, value, _ := toolArg(a)
		if name != "var-file" {
			continue
		}
		if root == nil {
			var err error
			if root, err = os.OpenRoot(repoDir); err != nil {
				return err
			}
			defer root.Close()
		}
		if path.IsAbs(value) || !varFileInside(root, path.Join(dir, value)) {
			return &VarFileError{Arg: a}
		}
	}
	return nil
}

// VarFileError is a -var-file that names no regular file inside the
// checkout. Its text can be shown to users as is.
type VarFileError struct {
	// Arg is the tool argument, as the user gave it.
	Arg string
}

func (e *VarFileError) Error() string {
	return fmt.Sprintf("the tool argument `%s` names no regular file inside the repository; a link that leads out of it does not count", Quote(e.Arg))
}

// varFileInside reports whether name, relative to root, is a regular file
// inside it, following links that stay inside: the root refuses those
// that lead out.
func varFileInside(root *os.Root, name string) bool {
	fi, err := root.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}
