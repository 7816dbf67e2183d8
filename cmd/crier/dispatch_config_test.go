package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConfigDispatchPartitionsAndSendQueues: CRIER_DISPATCH_PARTITIONS defaults to 4,
// CRIER_SEND_QUEUES to 1, and both take 1 to 64; CRIER_MAX_IN_FLIGHT defaults to 10 000
// and takes 100 to 1 000 000 (TestConfigMaxInFlight).
func TestConfigDispatchPartitionsAndSendQueues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		def  int
		read func(Config) int
	}{
		{"CRIER_DISPATCH_PARTITIONS", 4, func(c Config) int { return c.DispatchPartitions }},
		{"CRIER_SEND_QUEUES", 1, func(c Config) int { return c.SendQueues }},
	} {
		get := func(v string) func(string) string {
			return func(k string) string {
				if k == tc.name {
					return v
				}
				return ""
			}
		}
		c, err := loadConfig(get(""))
		require.NoError(t, err)
		require.Equal(t, tc.def, tc.read(c), tc.name)
		for v, want := range map[string]int{"1": 1, "16": 16, "64": 64} {
			c, err := loadConfig(get(v))
			require.NoError(t, err)
			require.Equal(t, want, tc.read(c), tc.name)
		}
		for _, v := range []string{"0", "-2", "65", "four", "2.5"} {
			_, err := loadConfig(get(v))
			require.ErrorContains(t, err, tc.name, v)
			require.ErrorContains(t, err, "from 1 to 64", v)
		}
	}
}

func TestConfigMaxInFlight(t *testing.T) {
	t.Parallel()
	get := func(v string) func(string) string {
		return func(k string) string {
			if k == "CRIER_MAX_IN_FLIGHT" {
				return v
			}
			return ""
		}
	}
	c, err := loadConfig(get(""))
	require.NoError(t, err)
	require.Equal(t, 10_000, c.MaxInFlight)
	c, err = loadConfig(get("200000"))
	require.NoError(t, err)
	require.Equal(t, 200_000, c.MaxInFlight)
	for _, v := range []string{"0", "99", "1000001", "lots"} {
		_, err := loadConfig(get(v))
		require.ErrorContains(t, err, "CRIER_MAX_IN_FLIGHT", v)
		require.ErrorContains(t, err, "from 100 to 1000000", v)
	}
}

// TestConfigLaunchParts: CRIER_LAUNCH_PARTS is computed when unset (0 here) and takes 1
// to 16.
func TestConfigLaunchParts(t *testing.T) {
	t.Parallel()
	get := func(v string) func(string) string {
		return func(k string) string {
			if k == "CRIER_LAUNCH_PARTS" {
				return v
			}
			return ""
		}
	}
	c, err := loadConfig(get(""))
	require.NoError(t, err)
	require.Zero(t, c.LaunchParts)
	for v, want := range map[string]int{"1": 1, "3": 3, "16": 16} {
		c, err := loadConfig(get(v))
		require.NoError(t, err)
		require.Equal(t, want, c.LaunchParts)
	}
	for _, v := range []string{"0", "-1", "17", "two"} {
		_, err := loadConfig(get(v))
		require.ErrorContains(t, err, "CRIER_LAUNCH_PARTS", v)
		require.ErrorContains(t, err, "from 1 to 16", v)
	}
}
