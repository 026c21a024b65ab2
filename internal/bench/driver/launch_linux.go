package driver

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal kills the child if the driver dies first, so that
// an interrupted run leaves no servers or clients behind.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
