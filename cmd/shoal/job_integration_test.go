package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// jobLockedBuffer collects a process's output; the process writes while the
// test may read it for a failure message.
type jobLockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *jobLockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *jobLockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// jobUpProcess is one `shoal up` child process.
type jobUpProcess struct {
	cmd     *exec.Cmd
	out     *jobLockedBuffer
	exited  chan struct{}
	err     error // valid once exited is closed
	api     string
	dataDir string
	client  *controlapi.Client
}

// jobFreeAddr returns a 127.0.0.1 port that was free a moment ago.
// Another process could take it before the node binds it; the node then
// fails to start and the test says so, which is acceptable on a test box.
func jobFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// jobPollUntil calls f every interval until it returns true or ctx ends.
func jobPollUntil(ctx context.Context, interval time.Duration, f func() bool) bool {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if f() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// TestJobAcrossUpProcesses runs the same job across separate `shoal up`
// processes: three nodes in three processes on 127.0.0.1 with
// one key train one job submitted to the first with `shoal job submit
// --wait`, and all three end with the byte-identical model.
func TestJobAcrossUpProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three nodes")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "shoal")
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	key := filepath.Join(tmp, "swarm.key")
	if err := mesh.WriteNewKey(key, false); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(tmp, "xdg"), "SHOAL_DATA_DIR=")

	var nodes []*jobUpProcess
	start := func(i int, bootstrap string) *jobUpProcess {
		p := &jobUpProcess{out: &jobLockedBuffer{}, exited: make(chan struct{}), api: jobFreeAddr(t),
			dataDir: filepath.Join(tmp, "node-"+string(rune('a'+i)))}
		args := []string{"up", "--headless", "--no-mdns", "--key", key, "--data-dir", p.dataDir,
			"--listen", "/ip4/127.0.0.1/tcp/0", "--api", p.api, "--http", "127.0.0.1:0", "--name", "node-" + string(rune('a'+i))}
		if bootstrap != "" {
			args = append(args, "--bootstrap", bootstrap)
		}
		p.cmd = exec.Command(bin, args...)
		p.cmd.Env = env
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			p.err = p.cmd.Wait()
			close(p.exited)
		}()
		nodes = append(nodes, p)
		// The token file appears once the API is up; Self answers then.
		if !jobPollUntil(ctx, 50*time.Millisecond, func() bool {
			select {
			case <-p.exited:
				return true
			default:
			}
			if p.client == nil {
				c, err := controlapi.NewFromDataDir(p.api, p.dataDir)
				if err != nil {
					return false
				}
				p.client = c
			}
			_, err := p.client.Self(ctx)
			return err == nil
		}) {
			t.Fatalf("node %d: control API never answered on %s\n%s", i, p.api, p.out)
		}
		select {
		case <-p.exited:
			t.Fatalf("node %d exited at start: %v\n%s", i, p.err, p.out)
		default:
		}
		return p
	}
	t.Cleanup(func() {
		// SIGTERM is how an operator stops a node: it must shut down cleanly.
		running := map[*jobUpProcess]bool{}
		for _, p := range nodes {
			select {
			case <-p.exited: // already reported
			default:
				running[p] = true
				_ = p.cmd.Process.Signal(syscall.SIGTERM)
			}
		}
		for i, p := range nodes {
			if !running[p] {
				continue
			}
			select {
			case <-p.exited:
				if p.err != nil {
					t.Errorf("node %d did not exit cleanly on SIGTERM: %v\n%s", i, p.err, p.out)
				}
			case <-time.After(15 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.exited
				t.Errorf("node %d still running 15 s after SIGTERM\n%s", i, p.out)
			}
		}
	})

	first := start(0, "")
	self, err := first.client.Self(ctx)
	if err != nil {
		t.Fatal(err)
	}
	boot := ""
	for _, a := range self.Addrs {
		if strings.Contains(a, "/tcp/") && !strings.Contains(a, "/ws") && strings.Contains(a, "/p2p/") {
			boot = a
			break
		}
	}
	if boot == "" {
		t.Fatalf("node 0 has no TCP address to bootstrap from: %v", self.Addrs)
	}
	start(1, boot)
	start(2, boot)
	if !jobPollUntil(ctx, 100*time.Millisecond, func() bool {
		for _, p := range nodes {
			ps, err := p.client.Peers(ctx)
			if err != nil || len(ps) < 2 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the three nodes never saw each other\nnode 0:\n%s", first.out)
	}

	data := datatest.DaysTSV(t, 240)
	submit := exec.CommandContext(ctx, bin, "job", "submit", "--model", "seed-text", "--data", data, "--holdout", "0.2",
		"--epochs", "2", "--batch", "16", "--lr", "0.01", "--local-steps", "4", "--shard-rows", "40", "--seed", "5",
		"--min-peers", "3", "--name", "days", "--wait", "--json", "--api", first.api, "--data-dir", first.dataDir)
	submit.Env = env
	var stdout, stderr bytes.Buffer
	submit.Stdout, submit.Stderr = &stdout, &stderr
	if err := submit.Run(); err != nil {
		t.Fatalf("job submit --wait: %v\nstderr:\n%s\nnode 0:\n%s", err, stderr.String(), first.out)
	}
	var done controlapi.Job
	if err := json.Unmarshal([]byte(jobLastLine(stdout.String())), &done); err != nil {
		t.Fatalf("job submit output: %v\n%s", err, stdout.String())
	}
	if done.State != controlapi.JobDone || len(done.ModelHash) != 64 || done.Members != 3 {
		t.Fatalf("job on node 0 ended as %+v", done)
	}
	t.Logf("job %s: hash %s, probe accuracy %.3f, %d members", done.ID, done.ModelHash[:12], done.Result.ProbeAccuracy, done.Members)

	// Every node ends with the same model: by its API (`shoal jobs --json`)
	// and by the SHA-256 of the file in its model store.
	for i, p := range nodes {
		var j controlapi.Job
		if !jobPollUntil(ctx, 100*time.Millisecond, func() bool {
			cmd := exec.CommandContext(ctx, bin, "jobs", "--json", "--api", p.api, "--data-dir", p.dataDir)
			cmd.Env = env
			out, err := cmd.Output()
			var jobs []controlapi.Job
			if err != nil || json.Unmarshal(out, &jobs) != nil {
				return false
			}
			for _, x := range jobs {
				if x.ID == done.ID && controlapi.JobEnded(x.State) {
					j = x
					return true
				}
			}
			return false
		}) {
			t.Fatalf("node %d: job %s never ended\n%s", i, done.ID, p.out)
		}
		if j.State != controlapi.JobDone || j.ModelHash != done.ModelHash || j.Result == nil {
			t.Errorf("node %d: job ended as %s with hash %q (error %q), want done with %s", i, j.State, j.ModelHash, j.Error, done.ModelHash)
			continue
		}
		if !strings.HasPrefix(j.Result.ModelPath, p.dataDir+string(filepath.Separator)) {
			t.Errorf("node %d: model at %s, outside its data dir %s", i, j.Result.ModelPath, p.dataDir)
		}
		b, err := os.ReadFile(j.Result.ModelPath)
		if sum := sha256.Sum256(b); err != nil || hex.EncodeToString(sum[:]) != done.ModelHash {
			t.Errorf("node %d: model file %s (%v) does not hash to %s", i, j.Result.ModelPath, err, done.ModelHash)
		}
	}
	if t.Failed() {
		return
	}

	// A fourth node that took no part holds no model, yet answers a query
	// for the trained one through a member that serves it; when that
	// member's process is killed, the next query fails over to another
	// member within its deadline.
	outsider := start(3, boot)
	members := map[string]*jobUpProcess{}
	for _, p := range nodes[:3] {
		me, err := p.client.Self(ctx)
		if err != nil {
			t.Fatal(err)
		}
		members[me.ID] = p
	}
	// The outsider must have heard every member announce the model, or a
	// kill of the one it knows leaves it none to fail over to.
	if !jobPollUntil(ctx, 100*time.Millisecond, func() bool {
		ps, err := outsider.client.Peers(ctx)
		if err != nil {
			return false
		}
		serving := 0
		for _, p := range ps {
			if members[p.ID] != nil && slices.ContainsFunc(p.Served, func(s controlapi.ServedModel) bool { return s.Name == done.Name }) {
				serving++
			}
		}
		return serving == len(members)
	}) {
		t.Fatalf("the outsider never heard all three members serve %s\n%s", done.Name, outsider.out)
	}
	query := controlapi.PredictRequest{Inputs: []json.RawMessage{json.RawMessage(`"a good good morning"`), json.RawMessage(`"sad rainy day"`)}}
	var first1 controlapi.PredictResponse
	if !jobPollUntil(ctx, 100*time.Millisecond, func() bool {
		qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
		defer qcancel()
		r, err := outsider.client.PredictModel(qctx, done.Name, query)
		first1 = r
		return err == nil && members[r.ServedBy] != nil
	}) {
		t.Fatalf("the outsider never got an answer from a member: %+v\n%s", first1, outsider.out)
	}
	if ms, err := outsider.client.Models(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("the outsider holds models %+v (%v); the test needs it to hold none", ms, err)
	}
	if got := []string{first1.Predictions[0].Label, first1.Predictions[1].Label}; got[0] != "good" || got[1] != "bad" {
		t.Errorf("the trained model labels the two days %v, want [good bad]", got)
	}
	victim := members[first1.ServedBy]
	_ = victim.cmd.Process.Kill()
	<-victim.exited
	killed := time.Now()
	qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
	defer qcancel()
	after, err := outsider.client.PredictModel(qctx, done.Name, query)
	if err != nil {
		t.Fatalf("first query after %s was killed: %v\n%s", first1.ServedBy, err, outsider.out)
	}
	if after.ServedBy == first1.ServedBy || members[after.ServedBy] == nil {
		t.Fatalf("after the kill the query was served by %q (killed %s)", after.ServedBy, first1.ServedBy)
	}
	if !slices.Equal(after.Predictions[0].Probabilities, first1.Predictions[0].Probabilities) {
		t.Errorf("the other member answered %v, the killed one %v: members hold different models", after.Predictions[0].Probabilities, first1.Predictions[0].Probabilities)
	}
	t.Logf("after killing the serving member, the next query was answered by another in %v", time.Since(killed).Round(time.Millisecond))
}
