//go:build !unix

package marionette

import (
	"errors"
	"os"
	"os/exec"
)

func ownProcessGroup(*exec.Cmd) {}

// killProcessGroup kills Firefox; without process groups its content processes end on
// their own when it is gone.
func killProcessGroup(cmd *exec.Cmd) error {
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}
