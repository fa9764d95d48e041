//go:build soak

package fault

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/testnet/fault/proxy"
)

// scenarioData is the job data of the accuracy scenarios: a slice of
// MNIST at full scale where SHOAL_MNIST names it, DaysTSV otherwise.
func scenarioData(t *testing.T, sc scale, r *row) jobData {
	if sc.Name == "full" {
		if d, ok := mnistJob(t, 6000, 1000, 3, sc.N); ok {
			return d
		}
		t.Log("SHOAL_MNIST not set: DaysTSV instead of MNIST")
	}
	return daysJob(t, 400, 3, sc.N)
}

// medianRTT is the median RTT peer i shows for the others.
func medianRTT(ctx context.Context, c *Cluster, i int) time.Duration {
	out, err := c.CLI(ctx, i, "peers", "--json")
	if err != nil {
		return 0
	}
	var ps []controlapi.Peer
	if json.Unmarshal(out, &ps) != nil {
		return 0
	}
	var rtts []time.Duration
	for _, p := range ps {
		if p.RTT > 0 {
			rtts = append(rtts, p.RTT)
		}
	}
	if len(rtts) == 0 {
		return 0
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2]
}

// TestSoakLatencyLoss: a job on a clean mesh, then the same job with
// 100 ms ± 10 ms added to each direction of every link (the proxy) and 1%
// of packets dropped (nftables): it completes, every peer holds the same
// model, and its hold-out accuracy is within 1 point of the clean run's.
// At full scale once more with 5% loss.
func TestSoakLatencyLoss(t *testing.T) {
	sc := soakScale()
	r := newRow(t, "latency 100±10ms, 1% loss")
	c := startCluster(t, r, Options{N: sc.N, Proxy: true})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	data := scenarioData(t, sc, r)
	r.add(t, "%d peers, %s", sc.N, data.desc)
	all := indexes(sc.N)

	run := func(name string) (controlapi.Job, time.Duration) {
		start := time.Now()
		j := submitWait(ctx, t, c, 0, name, data)
		took := time.Since(start)
		views := waitEnded(ctx, t, c, j.ID, all)
		sameModel(t, c, views)
		if j.State != controlapi.JobDone || j.Result == nil {
			t.Fatalf("%s job ended %s: %s", name, j.State, j.Error)
		}
		return j, took
	}
	clean, cleanTook := run("clean")
	cleanAcc := clean.Result.ProbeAccuracy
	r.add(t, "clean: %.1fs, accuracy %.2f%%, %d rounds, rtt %v", cleanTook.Seconds(), 100*cleanAcc, clean.Result.Rounds, medianRTT(ctx, c, 0).Round(100*time.Microsecond))

	if err := c.SetFaults(proxy.Faults{Latency: 100 * time.Millisecond, Jitter: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	losses := []int{1}
	if sc.Loss2 > 0 {
		losses = append(losses, sc.Loss2)
	}
	for _, loss := range losses {
		lossNote := ""
		if err := c.Loss(loss); err == ErrNeedsNetns {
			lossNote = " (no loss: loopback)"
		} else if err != nil {
			t.Fatal(err)
		}
		// New connections pass the latency from the first byte; open ones
		// get it for what they read from now on. Wait until the pings show it.
		var rtt time.Duration
		_ = Poll(ctx, time.Second, func() bool { rtt = medianRTT(ctx, c, 0); return rtt > 150*time.Millisecond })
		j, took := run("lossy" + string(rune('0'+loss)))
		acc := j.Result.ProbeAccuracy
		r.add(t, "100±10ms each way + %d%% loss%s: %.1fs (%.1f× clean), accuracy %.2f%% (%+.2f points), rtt %v, %d rounds",
			loss, lossNote, took.Seconds(), took.Seconds()/cleanTook.Seconds(), 100*acc, 100*(acc-cleanAcc), rtt.Round(time.Millisecond), j.Result.Rounds)
		if math.Abs(acc-cleanAcc) > 0.01 {
			t.Errorf("with %d%% loss accuracy %.4f, clean %.4f: more than 1 point apart", loss, acc, cleanAcc)
		}
	}
}

// progress is a peer's own step and averaging rounds in a job.
func progress(ctx context.Context, c *Cluster, i int, id string) (step, rounds int, state string) {
	j, _ := c.Job(ctx, i, id)
	return j.Step, j.Rounds, j.State
}

// TestSoakPartition: during a job the mesh is split into halves (nftables
// drops every packet between them) for a while, then healed. Each half
// keeps training (steps and averaging rounds advance on both sides), each
// drops the other, the mesh re-merges after the heal, the job ends with the
// same model hash on every peer and every shard still has a verified copy.
func TestSoakPartition(t *testing.T) {
	sc := soakScale()
	r := newRow(t, "partition into halves, heal")
	c := startCluster(t, r, Options{N: sc.N})
	if mode, _ := c.Mode(); mode != ModeNetns {
		t.Skip("partitions need network namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	data := daysJob(t, 2000, sc.partitionEpochs(), sc.N)
	r.add(t, "%d peers, %s, apart %v", sc.N, data.desc, sc.PartitionFor)
	a, b := indexes(sc.N)[:sc.N/2], indexes(sc.N)[sc.N/2:]
	id := submit(ctx, t, c, 0, "split", data)
	start := time.Now()

	// Split once training is under way on both sides.
	if err := Poll(ctx, 200*time.Millisecond, func() bool {
		s0, _, _ := progress(ctx, c, a[0], id)
		s1, _, _ := progress(ctx, c, b[0], id)
		return s0 > 0 && s1 > 0
	}); err != nil {
		t.Fatal("training never started")
	}
	if err := c.Partition(a, b); err != nil {
		t.Fatal(err)
	}
	split := time.Now()
	// Each side drops the other (the probe: ~4.5 s for a silent peer).
	var dropped time.Duration
	if err := Poll(ctx, 200*time.Millisecond, func() bool {
		for _, i := range a {
			for _, j := range b {
				if c.Sees(ctx, i, []string{c.Peer(j).ID}) || c.Sees(ctx, j, []string{c.Peer(i).ID}) {
					return false
				}
			}
		}
		return true
	}); err != nil {
		t.Errorf("the halves still see each other %v after the split", time.Since(split))
	} else {
		dropped = time.Since(split)
	}
	// While apart, follow every peer's steps once a second: the longest
	// time a peer's step stood still is the stall the split caused.
	tl := newTimeline(sc.N)
	_ = Poll(ctx, time.Second, func() bool {
		for i := range sc.N {
			st, rd, state := progress(ctx, c, i, id)
			tl.see(i, st, rd, state)
		}
		return time.Since(split) >= sc.PartitionFor
	})
	for _, half := range [][]int{a, b} {
		gained, stall, rounds, states := tl.summary(half)
		r.add(t, "half %v while apart: fewest steps gained %d, longest stall %.1fs, fewest rounds gained %d, states %v",
			names(c, half), gained, stall.Seconds(), rounds, states)
		// Issue 16 wants both halves to keep training. They stall instead:
		// a peer whose shard owners changed re-fetches from holders that
		// include the other half (mesh/job holders(): every member ever
		// heard, then the submitter), each fetch bounded only by the
		// 1-minute budget of all holders together; an exchange with a
		// partner across the split hangs to its 30 s timeout.
		if gained <= 0 || stall >= sc.PartitionFor/2 {
			r.finding(t, "half %v stalled while apart: a peer made %d steps, longest stall %.1fs of %v", names(c, half), gained, stall.Seconds(), sc.PartitionFor)
		}
	}
	r.add(t, "halves dropped each other %.1fs after the split; %d \"shard not fetched\" warnings while apart", dropped.Seconds(), countLogs(c, notFetched))
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	merged, err := c.WaitConverged(ctx)
	if err != nil {
		t.Error(err)
	}
	views := waitEnded(ctx, t, c, id, indexes(sc.N))
	hash := sameModel(t, c, views)
	total, least, missing := shardCensus(t, c, id, indexes(sc.N))
	acc := 0.0
	if j := views[0]; j.Result != nil {
		acc = j.Result.ProbeAccuracy
	}
	hashes := map[string]int{}
	for _, j := range views {
		hashes[j.ModelHash]++
	}
	r.add(t, "re-merged %.1fs after the heal; job took %.1fs, %d distinct model hash(es) over %d peers (%.12s), accuracy %.2f%%; %d shards, fewest copies %d, missing %d",
		merged.Seconds(), time.Since(start).Seconds(), len(hashes), len(views), hash, 100*acc, total, least, len(missing))
	if len(missing) > 0 {
		t.Errorf("shards lost: %v", missing)
	}
}

// partitionEpochs sizes the partition job so that training outlasts the
// split on these cores.
func (s scale) partitionEpochs() int {
	if s.Name == "full" {
		return 80
	}
	return 60
}

// timeline follows the peers' progress in a job.
type timeline struct {
	first, last  []int // steps
	rounds0, rnd []int
	changed      []time.Time
	stall        []time.Duration
	state        []string
	seen         []bool
}

func newTimeline(n int) *timeline {
	return &timeline{first: make([]int, n), last: make([]int, n), rounds0: make([]int, n), rnd: make([]int, n),
		changed: make([]time.Time, n), stall: make([]time.Duration, n), state: make([]string, n), seen: make([]bool, n)}
}

func (tl *timeline) see(i, step, rounds int, state string) {
	now := time.Now()
	if !tl.seen[i] {
		tl.seen[i], tl.first[i], tl.last[i], tl.rounds0[i], tl.changed[i] = true, step, step, rounds, now
	}
	// A peer past training (trained, consensus, done) is not stalled.
	if step != tl.last[i] || state != "training" {
		tl.last[i], tl.changed[i] = step, now
	}
	tl.stall[i] = max(tl.stall[i], now.Sub(tl.changed[i]))
	tl.rnd[i], tl.state[i] = rounds, state
}

// summary gives, over peers, the fewest steps gained, the longest stall,
// the fewest rounds gained and the states reached.
func (tl *timeline) summary(peers []int) (gained int, stall time.Duration, rounds int, states []string) {
	gained, rounds = -1, -1
	for _, i := range peers {
		if g := tl.last[i] - tl.first[i]; gained < 0 || g < gained {
			gained = g
		}
		if rg := tl.rnd[i] - tl.rounds0[i]; rounds < 0 || rg < rounds {
			rounds = rg
		}
		stall = max(stall, tl.stall[i])
		states = append(states, tl.state[i])
	}
	return gained, stall, rounds, states
}

func names(c *Cluster, peers []int) []string {
	var out []string
	for _, i := range peers {
		out = append(out, c.Peer(i).Name)
	}
	return out
}

// TestSoakKill: two of the peers are killed with SIGKILL during a job, one
// a quarter into its training, the other the moment it logs its final
// parameters (right before its model write). The job completes on the others with one
// model; both victims are restarted, and each one's model store then holds
// only complete versions whose SHA-256 is the job's model hash.
func TestSoakKill(t *testing.T) {
	sc := soakScale()
	r := newRow(t, "kill -9 two peers, restart")
	c := startCluster(t, r, Options{N: sc.N})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	data := daysJob(t, 2000, sc.partitionEpochs()/3, sc.N)
	r.add(t, "%d peers, %s", sc.N, data.desc)
	v1, v2 := sc.N-1, sc.N-2
	survivors := indexes(sc.N, v1, v2)
	id := submit(ctx, t, c, 0, "crash", data)
	start := time.Now()

	// Victim 1: a quarter of the way through its training.
	var step1, steps1 int
	if err := Poll(ctx, 100*time.Millisecond, func() bool {
		j, _ := c.Job(ctx, v1, id)
		step1, steps1 = j.Step, j.Steps
		return j.State == "training" && j.Steps > 0 && 4*j.Step >= j.Steps
	}); err != nil {
		t.Fatalf("%s never trained", c.Peer(v1).Name)
	}
	if err := c.Kill(v1); err != nil {
		t.Fatal(err)
	}
	r.add(t, "killed %s at step %d of %d (training), %.1fs into the job", c.Peer(v1).Name, step1, steps1, time.Since(start).Seconds())
	restarted1 := make(chan error, 1)
	go func() {
		// Back after a few seconds, while the others still train.
		time.Sleep(5 * time.Second)
		restarted1 <- c.Restart(ctx, v1)
	}()

	// Victim 2: the moment it logs its final parameters, right before it
	// writes the model into its store.
	final := regexp.MustCompile(`final parameters`)
	if _, err := c.Peer(v2).WaitLog(ctx, final); err != nil {
		t.Fatalf("%s never reached its final parameters: %v", c.Peer(v2).Name, err)
	}
	seen := time.Now()
	if err := c.Kill(v2); err != nil {
		t.Fatal(err)
	}
	r.add(t, "killed %s %v after it logged its final parameters (before or during its model write), %.1fs into the job",
		c.Peer(v2).Name, time.Since(seen).Round(time.Millisecond), time.Since(start).Seconds())
	if err := <-restarted1; err != nil {
		t.Fatal(err)
	}

	views := waitEnded(ctx, t, c, id, survivors)
	hash := sameModel(t, c, views)
	r.add(t, "job done on the %d survivors %.1fs after submission, one model %.12s", len(survivors), time.Since(start).Seconds(), hash)
	// What the kill left in victim 2's store, before it runs again.
	vs, problems := storeCheck(c.Peer(v2), "crash", hash)
	r.add(t, "%s's store as the kill left it: versions %v, problems %v", c.Peer(v2).Name, vs, problems)
	if len(problems) > 0 {
		t.Errorf("%s's store after the kill: %v", c.Peer(v2).Name, problems)
	}

	if err := c.Restart(ctx, v2); err != nil {
		t.Fatal(err)
	}
	// The restarted peers finish too (resumed from their checkpoint, or
	// adopting what the finished ones hold) with the same model.
	back := waitEnded(ctx, t, c, id, []int{v1, v2})
	for _, i := range []int{v1, v2} {
		j := back[i]
		vs, problems := storeCheck(c.Peer(i), "crash", hash)
		r.add(t, "restarted %s: job %s with model %.12s; store versions %v, problems %d", c.Peer(i).Name, j.State, j.ModelHash, vs, len(problems))
		for _, p := range problems {
			t.Errorf("%s's store: %s", c.Peer(i).Name, p)
		}
		if j.State != controlapi.JobDone || j.ModelHash != hash {
			t.Errorf("restarted %s ended %s with %.12s, want done with %.12s (%s)", c.Peer(i).Name, j.State, j.ModelHash, hash, j.Error)
		}
	}
	for _, i := range survivors {
		if _, problems := storeCheck(c.Peer(i), "crash", hash); len(problems) > 0 {
			t.Errorf("%s's store: %v", c.Peer(i).Name, problems)
		}
	}
}

// TestSoakWrongKey: a peer with another mesh key dials the honest peers
// during a job. It is refused (it says so, and no honest peer lists it or
// logs it joining), and the job runs as it did without it: same member
// count, one model hash, the time logged beside the clean run's.
func TestSoakWrongKey(t *testing.T) {
	sc := soakScale()
	r := newRow(t, "intruder with the wrong key")
	c := startCluster(t, r, Options{N: sc.N})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	data := daysJob(t, 2000, sc.partitionEpochs()/6, sc.N)
	r.add(t, "%d peers, %s", sc.N, data.desc)

	start := time.Now()
	clean := submitWait(ctx, t, c, 0, "honest", data)
	cleanTook := time.Since(start)

	otherKey := filepath.Join(t.TempDir(), "other.key")
	if err := NewKeyFile(shoalBin, otherKey); err != nil {
		t.Fatal(err)
	}
	id := submit(ctx, t, c, 0, "intruded", data)
	start = time.Now()
	in, err := c.AddPeer(ctx, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	refused := regexp.MustCompile(`cannot reach peer \S+ at \S+ \(wrong mesh key or peer unreachable\)`)
	if _, err := in.WaitLog(ctx, refused); err != nil {
		t.Errorf("the intruder was never told it was refused: %v", err)
	}
	toldAfter := time.Since(start)
	views := waitEnded(ctx, t, c, id, indexes(sc.N))
	took := time.Since(start)
	sameModel(t, c, views)
	joined := regexp.MustCompile(`peer joined.* peer=` + regexp.QuoteMeta(in.ID))
	for _, i := range indexes(sc.N) {
		if c.Sees(ctx, i, []string{in.ID}) || joined.MatchString(c.Peer(i).Log()) {
			t.Errorf("%s let the intruder in", c.Peer(i).Name)
		}
		if views[i].Members != clean.Members {
			t.Errorf("%s counted %d members with the intruder about, %d without", c.Peer(i).Name, views[i].Members, clean.Members)
		}
	}
	if regexp.MustCompile(`peer joined`).MatchString(in.Log()) {
		t.Error("the intruder joined somebody")
	}
	r.add(t, "intruder refused (told %.1fs after it started), listed by none of %d peers; job with it %.1fs, without %.1fs; members %d / %d",
		toldAfter.Seconds(), sc.N, took.Seconds(), cleanTook.Seconds(), views[0].Members, clean.Members)
}

var notFetched = regexp.MustCompile(`shard not fetched`)

// countLogs counts the matches of re in every peer's log.
func countLogs(c *Cluster, re *regexp.Regexp) int {
	n := 0
	for _, p := range c.Peers() {
		n += len(re.FindAllString(p.Log(), -1))
	}
	return n
}
