package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/crierhq/crier/internal/testredis"
	"github.com/crierhq/crier/workers"
)

func TestConfigRedisCluster(t *testing.T) {
	t.Parallel()
	get := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

	c, err := loadConfig(get(nil))
	require.NoError(t, err)
	require.Nil(t, c.RedisCluster, "one Redis unless told otherwise")

	c, err = loadConfig(get(map[string]string{"CRIER_REDIS_CLUSTER": " 10.0.0.1:7000, 10.0.0.2:7000 ,[::1]:7001,"}))
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.1:7000", "10.0.0.2:7000", "[::1]:7001"}, c.RedisCluster.Addrs)

	c, err = loadConfig(get(map[string]string{
		"CRIER_REDIS_CLUSTER": "rediss://crier:s3cret@redis-a:6380?addr=redis-b:6380&addr=redis-c:6380&dial_timeout=2s"}))
	require.NoError(t, err)
	require.Equal(t, []string{"redis-a:6380", "redis-b:6380", "redis-c:6380"}, c.RedisCluster.Addrs)
	require.Equal(t, "crier", c.RedisCluster.Username)
	require.Equal(t, "s3cret", c.RedisCluster.Password)
	require.NotNil(t, c.RedisCluster.TLSConfig, "rediss: TLS")
	require.Equal(t, 2*time.Second, c.RedisCluster.DialTimeout)

	for value, want := range map[string]string{
		"redis-a":                              `node "redis-a" is not host:port`,
		"redis-a:0":                            "is not a number from 1 to 65535",
		"redis-a:http":                         "is not a number from 1 to 65535",
		", ,":                                  "names no node",
		"crier:s3cret@redis-a:6379":            "node 1 holds credentials: put them in the URL form",
		"redis://redis-a:6379/2":               "a Redis Cluster has only database 0",
		"redis://redis-a:6379?addr=nope":       "not a Redis Cluster URL",
		"redis://redis-a:6379?pool=9":          "unexpected option: pool",
		"http://redis-a:6379":                  "invalid URL scheme",
		"redis://:s3cret@redis-a:bad?addr=b:1": "not a Redis Cluster URL",
	} {
		_, err := loadConfig(get(map[string]string{"CRIER_REDIS_CLUSTER": value}))
		require.ErrorContains(t, err, "CRIER_REDIS_CLUSTER: ", value)
		require.ErrorContains(t, err, want, value)
		require.NotContains(t, err.Error(), "s3cret", "an error never repeats the password")
	}

	_, err = loadConfig(get(map[string]string{"CRIER_REDIS_CLUSTER": "redis-a:6379", "CRIER_REDIS_URL": "redis://redis-a:6379/0"}))
	require.ErrorContains(t, err, "CRIER_REDIS_CLUSTER: set CRIER_REDIS_URL or CRIER_REDIS_CLUSTER, not both")

	code, _, stderr := runCmd(t, get(map[string]string{"CRIER_REDIS_CLUSTER": "127.0.0.1:1"}), "bench", "--quick")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "crier bench: runs on a single Redis")
}

// FuzzParseRedisCluster: whatever CRIER_REDIS_CLUSTER holds, parsing neither panics nor
// repeats a password in its error, and what it accepts is a list of host:port.
func FuzzParseRedisCluster(f *testing.F) {
	for _, s := range []string{"127.0.0.1:7000,127.0.0.1:7001", "rediss://u:pw@h:1?addr=h2:2", "redis://h:1/0", "h", "@:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opts, err := parseRedisCluster(s)
		if err != nil {
			// The credentials as they stand in the value: an error that quoted the value
			// (url.Error does) would hold them so. The hint's own example does not count.
			msg := strings.ReplaceAll(err.Error(), "user:password@", "")
			for _, node := range strings.Split(s, ",") {
				if cred, _, ok := strings.Cut(node, "@"); ok && cred != "" {
					require.NotContains(t, msg, cred+"@")
				}
			}
			return
		}
		require.NotEmpty(t, opts.Addrs)
		for _, a := range opts.Addrs {
			_, _, err := net.SplitHostPort(a)
			require.NoError(t, err, a)
		}
	})
}

// TestServeOnRedisCluster runs `crier serve` with CRIER_REDIS_CLUSTER on a real three-node
// cluster: readiness pings it, the API's throttles use it, and the Asynq dashboard shows
// the cluster and a queue that a workers.Queue on the app's client filled.
func TestServeOnRedisCluster(t *testing.T) {
	t.Parallel()
	cluster := testredis.Cluster(t)
	getenv := env(t, "CRIER_REDIS_URL", "", "CRIER_REDIS_CLUSTER", strings.Join(cluster.Options().Addrs, ","))
	code, stdout, stderr := runCmd(t, getenv, "apikey", "create", "--name", "ops", "--role", "ops")
	require.Equal(t, 0, code, stderr)
	token := strings.TrimSpace(stdout)

	a := testApp(t, getenv)
	require.IsType(t, &redis.ClusterClient{}, a.redis)
	queue := workers.NewQueue(a.redis, a.logger)
	defer queue.Close()
	require.NoError(t, queue.EnqueueImport(context.Background(), 42))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, a, ln) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not stop")
		}
	}()

	base := "http://" + ln.Addr().String()
	get := func(path string, into any) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		require.Equal(t, 200, res.StatusCode, "%s: %s", path, body)
		if into != nil {
			require.NoError(t, json.Unmarshal(body, into), "%s: %s", path, body)
		}
	}
	get("/readyz", nil)
	get("/v1/accounts", nil)

	var info struct {
		Cluster        bool `json:"cluster"`
		QueueLocations []struct {
			Queue string   `json:"queue"`
			Nodes []string `json:"nodes"`
		} `json:"queue_locations"`
	}
	get("/monitoring/api/redis_info", &info)
	require.True(t, info.Cluster, "the dashboard knows it is looking at a cluster")
	require.NotEmpty(t, info.QueueLocations)
	var queues struct {
		Queues []struct {
			Queue string `json:"queue"`
			Size  int    `json:"size"`
		} `json:"queues"`
	}
	get("/monitoring/api/queues", &queues)
	sizes := map[string]int{}
	for _, q := range queues.Queues {
		sizes[q.Queue] = q.Size
	}
	require.Equal(t, 1, sizes[workers.QueueCampaigns], "%+v", queues)
}
