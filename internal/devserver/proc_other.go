//go:build !linux

package devserver

import "syscall"

// sysProcAttr puts the child in its own process group; outside Linux there is
// no parent-death signal, so a crashed test binary may leave a server behind.
func sysProcAttr(id *identity, _ syscall.Signal) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if id != nil {
		a.Credential = &syscall.Credential{Uid: id.uid, Gid: id.gid, NoSetGroups: true}
	}
	return a
}

// memoryDir is Linux-only (/dev/shm); elsewhere clusters live in os.TempDir().
func memoryDir(*identity, uint64) string { return "" }
