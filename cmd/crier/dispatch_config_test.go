package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConfigDispatchPartitions: CRIER_DISPATCH_PARTITIONS defaults to 4 and takes 1 to 64.
func TestConfigDispatchPartitions(t *testing.T) {
	t.Parallel()
	get := func(v string) func(string) string {
		return func(k string) string {
			if k == "CRIER_DISPATCH_PARTITIONS" {
				return v
			}
			return ""
		}
	}
	c, err := loadConfig(get(""))
	require.NoError(t, err)
	require.Equal(t, 4, c.DispatchPartitions)
	for v, want := range map[string]int{"1": 1, "16": 16, "64": 64} {
		c, err := loadConfig(get(v))
		require.NoError(t, err)
		require.Equal(t, want, c.DispatchPartitions)
	}
	for _, v := range []string{"0", "-2", "65", "four", "2.5"} {
		_, err := loadConfig(get(v))
		require.ErrorContains(t, err, "CRIER_DISPATCH_PARTITIONS", v)
		require.ErrorContains(t, err, "from 1 to 64", v)
	}
}
