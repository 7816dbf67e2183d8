package testredis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterNodes is how many masters the test cluster has: three, the fewest
// `redis-cli --cluster create` accepts, and enough that keys of a few accounts land on
// different nodes.
const clusterNodes = 3

// The test cluster: started by the first Cluster call of a test binary, stopped by
// StopCluster (TestMain) or, failing that, with the binary (clusterProcAttr).
var (
	clusterMu    sync.Mutex
	clusterOnce  sync.Once
	clusterState *localCluster
	clusterErr   error
	// clusterTurn is held by the test that uses the cluster: tests take turns, because
	// Asynq's keys (asynq:queues, asynq:servers, …) have no prefix to tell tests apart.
	clusterTurn = make(chan struct{}, 1)
)

// Cluster returns a client of a real Redis Cluster of three masters on loopback, flushed
// for the calling test, which has it to itself until it ends. Tests take turns, so a test
// calls Cluster once (more clients: redis.NewClusterClient on the client's
// Options().Addrs, which are the nodes), and a parallel test calls t.Parallel before
// Cluster, never after.
//
// The cluster is started once per test binary from the redis-server and redis-cli on the
// PATH (Debian's redis-server package; scripts/services.sh installs it), each node in a
// temporary directory with nothing kept on disk. Without redis-server the test fails, not
// skips: CI must run it. A package that uses Cluster calls StopCluster from TestMain.
func Cluster(t testing.TB) *redis.ClusterClient {
	t.Helper()
	clusterOnce.Do(func() {
		c, err := startCluster()
		clusterMu.Lock()
		clusterState, clusterErr = c, err
		clusterMu.Unlock()
	})
	clusterMu.Lock()
	c, err := clusterState, clusterErr
	clusterMu.Unlock()
	if err != nil {
		t.Fatalf("testredis: Redis Cluster: %v", err)
	}
	if c == nil {
		t.Fatal("testredis: the Redis Cluster was stopped (StopCluster) before this test")
	}

	select {
	case clusterTurn <- struct{}{}:
	case <-time.After(5 * time.Minute):
		t.Fatal("testredis: waited 5 minutes for the Redis Cluster: did a test call Cluster before t.Parallel?")
	}
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.addrs})
	t.Cleanup(func() {
		client.Close()
		<-clusterTurn
	})
	ctx := context.Background()
	err = client.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		return node.FlushAll(ctx).Err()
	})
	if err != nil {
		t.Fatalf("testredis: flush the Redis Cluster: %v", err)
	}
	return client
}

// StopCluster stops the test cluster, if Cluster started one, and removes its files. Call
// it from TestMain after m.Run; a binary that does not still stops the nodes when it exits.
func StopCluster() {
	clusterMu.Lock()
	defer clusterMu.Unlock()
	if clusterState != nil {
		clusterState.stop()
		clusterState = nil
	}
}

// localCluster is a running test cluster.
type localCluster struct {
	dir   string
	addrs []string
	nodes []*clusterNode
}

// clusterNode is one redis-server process.
type clusterNode struct {
	dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
}

func startCluster() (*localCluster, error) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server is not installed (apt-get install redis-server, or run scripts/services.sh)")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, errors.New("redis-cli is not installed (apt-get install redis-tools, or run scripts/services.sh)")
	}
	// A port picked free can be taken by someone else before the node binds it: try again.
	for attempt := 1; ; attempt++ {
		c, err := tryStartCluster(server, cli)
		if err == nil || attempt == 3 {
			return c, err
		}
	}
}

func tryStartCluster(server, cli string) (c *localCluster, err error) {
	dir, err := os.MkdirTemp("", "crier-redis-cluster-")
	if err != nil {
		return nil, err
	}
	c = &localCluster{dir: dir}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	ports, err := freePorts(2 * clusterNodes) // a client port and a cluster bus port each
	if err != nil {
		return c, err
	}
	for i := range clusterNodes {
		port, bus := ports[2*i], ports[2*i+1]
		nodeDir := filepath.Join(dir, strconv.Itoa(port))
		if err := os.Mkdir(nodeDir, 0o700); err != nil {
			return c, err
		}
		cmd := exec.Command(server,
			"--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(bus), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
			"--dir", nodeDir, "--save", "", "--appendonly", "no", "--logfile", "redis.log")
		cmd.SysProcAttr = clusterProcAttr()
		if err := cmd.Start(); err != nil {
			return c, fmt.Errorf("start redis-server: %w", err)
		}
		n := &clusterNode{dir: nodeDir, cmd: cmd, exited: make(chan struct{})}
		go func() {
			_ = cmd.Wait()
			close(n.exited)
		}()
		c.nodes = append(c.nodes, n)
		c.addrs = append(c.addrs, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	for i, addr := range c.addrs {
		if err := waitPing(addr, c.nodes[i].exited); err != nil {
			return c, fmt.Errorf("node %s: %w (its log: %s)", addr, err, filepath.Join(c.nodes[i].dir, "redis.log"))
		}
	}

	args := append([]string{"--cluster", "create"}, c.addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	var out bytes.Buffer
	create := exec.Command(cli, args...)
	create.Stdout, create.Stderr = &out, &out
	if err := create.Run(); err != nil {
		return c, fmt.Errorf("redis-cli --cluster create: %w: %s", err, out.String())
	}
	if err := c.waitReady(30 * time.Second); err != nil {
		return c, err
	}
	return c, nil
}

// waitPing waits until the node answers PING, or its process has exited.
func waitPing(addr string, exited <-chan struct{}) error {
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer client.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := client.Ping(context.Background()).Err()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("redis-server exited")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING in 10 s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReady waits until every node sees all slots assigned, all nodes known and the
// cluster state ok: only then does a new client find a complete slot map.
func (c *localCluster) waitReady(d time.Duration) error {
	deadline := time.Now().Add(d)
	want := []string{"cluster_state:ok", "cluster_slots_assigned:16384", "cluster_known_nodes:" + strconv.Itoa(clusterNodes)}
	for _, addr := range c.addrs {
		client := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := client.ClusterInfo(context.Background()).Result()
			ready := err == nil
			for _, w := range want {
				ready = ready && strings.Contains(info, w+"\r\n")
			}
			if ready {
				break
			}
			if time.Now().After(deadline) {
				client.Close()
				return fmt.Errorf("node %s not ready in %v: %v %q", addr, d, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		client.Close()
	}
	return nil
}

func (c *localCluster) stop() {
	for _, n := range c.nodes {
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
	c.nodes = nil
	_ = os.RemoveAll(c.dir)
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for len(ports) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ClusterClients returns n separate clients of the test cluster (Cluster's first), as n
// processes would have; each is closed when the test ends.
func ClusterClients(t testing.TB, n int) []*redis.ClusterClient {
	t.Helper()
	first := Cluster(t)
	clients := []*redis.ClusterClient{first}
	for len(clients) < n {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: first.Options().Addrs})
		t.Cleanup(func() { c.Close() })
		clients = append(clients, c)
	}
	return clients
}

// NodeOf returns the address of the master that holds key in the cluster, so that a test
// can show that its keys spread over several nodes, or share one slot.
func NodeOf(t testing.TB, c *redis.ClusterClient, key string) string {
	t.Helper()
	ctx := context.Background()
	slot, err := c.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatalf("testredis: CLUSTER KEYSLOT: %v", err)
	}
	slots, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatalf("testredis: CLUSTER SLOTS: %v", err)
	}
	for _, s := range slots {
		if int64(s.Start) <= slot && slot <= int64(s.End) && len(s.Nodes) > 0 {
			return s.Nodes[0].Addr
		}
	}
	t.Fatalf("testredis: no node serves slot %d", slot)
	return ""
}
