package server

import (
	"fmt"
	"log/slog"

	"github.com/atoll-iac/atoll/runner/tool"
)

// SandboxMode says whether the server confines the steps it runs.
type SandboxMode string

const (
	// SandboxAuto confines steps when the kernel can (Landlock), and
	// warns loudly when it cannot.
	SandboxAuto SandboxMode = "auto"
	// SandboxRequired refuses to start where steps cannot be confined.
	SandboxRequired SandboxMode = "required"
	// SandboxOff runs steps unconfined: they read what atoll can.
	SandboxOff SandboxMode = "off"
)

// ParseSandboxMode reads a --sandbox value.
func ParseSandboxMode(s string) (SandboxMode, error) {
	switch m := SandboxMode(s); m {
	case SandboxAuto, SandboxRequired, SandboxOff:
		return m, nil
	}
	return "", fmt.Errorf("%q: want auto, required or off", s)
}

// minSandboxABI is the oldest Landlock atoll confines with: ABI 2 lets a
// step move files between directories of its own; scopedSandboxABI is
// the first that keeps it from signalling atoll.
const minSandboxABI, scopedSandboxABI = 2, 6

// newSandbox is the confinement mode asks for, as far as the kernel
// allows.
func newSandbox(log *slog.Logger, mode SandboxMode, readPaths []string) (tool.Sandbox, error) {
	if mode == SandboxOff {
		log.Warn("the sandbox is off (--sandbox=off): a pull request's code can read every file atoll can, its secrets included")
		return tool.Sandbox{}, nil
	}
	abi, err := tool.SandboxABI()
	if err == nil && abi < minSandboxABI {
		err = fmt.Errorf("this kernel's Landlock is ABI %d; atoll needs %d (Linux 5.19) or later", abi, minSandboxABI)
	}
	switch {
	case err != nil && mode == SandboxRequired:
		return tool.Sandbox{}, fmt.Errorf("server: --sandbox=required: %w", err)
	case err != nil:
		log.Error("RUNNING UNCONFINED: a pull request's code can read every file atoll can, its secrets included; --sandbox=required refuses to start instead", "err", err)
		return tool.Sandbox{}, nil
	case abi < scopedSandboxABI && mode == SandboxRequired:
		return tool.Sandbox{}, fmt.Errorf("server: --sandbox=required: this kernel's Landlock is ABI %d: steps could signal atoll; that needs ABI %d (Linux 6.12) or later", abi, scopedSandboxABI)
	case abi < scopedSandboxABI:
		log.Warn("this kernel's Landlock cannot stop steps from signalling atoll or reaching its abstract sockets (ABI 6, Linux 6.12, can)", "landlock_abi", abi)
	}
	sb := tool.Sandbox{On: true, ReadOnly: readPaths, OwnPIDs: true}
	if err := tool.OwnPIDs(); err != nil {
		sb.OwnPIDs = false
		log.Warn("a step's processes that leave its process group may outlive it", "err", err)
	}
	log.Info("steps run confined", "landlock_abi", abi, "own_pid_namespace", sb.OwnPIDs)
	return sb, nil
}

// sandboxState is what /healthz says of the sandbox.
func sandboxState(sb tool.Sandbox) string {
	if sb.On {
		return "on"
	}
	return "off"
}
