//go:build !linux

package driver

import "os/exec"

// setParentDeathSignal does nothing where the kernel cannot tie a child's
// life to its parent's; stop still ends the children of a finished run.
func setParentDeathSignal(*exec.Cmd) {}
