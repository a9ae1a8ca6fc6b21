package devserver

import "syscall"

// sysProcAttr puts the child in its own process group (so a test's ^C reaches
// us first and we shut it down in order) and asks the kernel to signal it when
// this process dies, so a crashed test binary leaves no server behind. Go sets
// Pdeathsig after switching credentials, so it survives the user change.
func sysProcAttr(id *identity, deathSig syscall.Signal) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}
	if id != nil {
		a.Credential = &syscall.Credential{Uid: id.uid, Gid: id.gid, NoSetGroups: true}
	}
	return a
}

// memoryDir returns /dev/shm when it is a tmpfs with at least minFree bytes
// free and reachable by id: a cluster in memory starts, clones and commits
// several times faster than one on disk. Small /dev/shm mounts (64 MB in
// default Docker containers) are skipped.
func memoryDir(id *identity, minFree uint64) string {
	const tmpfsMagic = 0x01021994
	const dir = "/dev/shm"
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil || st.Type != tmpfsMagic {
		return ""
	}
	if st.Bavail*uint64(st.Bsize) < minFree || syscall.Access(dir, 2 /* W_OK */) != nil || !reachableBy(dir, id) {
		return ""
	}
	return dir
}
