//go:build !linux

package testredis

import "syscall"

// clusterProcAttr: only Linux can tie a child's life to its parent's; elsewhere a test
// binary that exits without StopCluster leaves its nodes running.
func clusterProcAttr() *syscall.SysProcAttr { return nil }
