//go:build unix

package marionette

import (
	"errors"
	"os/exec"
	"syscall"
)

// ownProcessGroup starts Firefox in a process group of its own, which its content
// processes join, so that killProcessGroup ends them all.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessGroup kills every process left in Firefox's group.
func killProcessGroup(cmd *exec.Cmd) error {
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}
