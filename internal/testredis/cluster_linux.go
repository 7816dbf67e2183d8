package testredis

import "syscall"

// clusterProcAttr makes the kernel kill a cluster node when the test binary exits without
// StopCluster (a panic, a test timeout, a TestMain that does not call it).
func clusterProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
