package avg

import (
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// newHosts starts n real libp2p hosts on 127.0.0.1 (TCP, pre-shared key,
// no metrics) and connects every pair.
// testProto is the params protocol under a made-up mesh id.
const testProto protocol.ID = "/shoal/test/" + ProtocolName

func newHosts(t testing.TB, n int) []host.Host {
	t.Helper()
	psk := make(pnet.PSK, 32)
	for i := range psk {
		psk[i] = byte(i * 7)
	}
	r := rand.New(rand.NewPCG(uint64(n), 99))
	hosts := make([]host.Host, n)
	for i := range hosts {
		seed := make([]byte, 32)
		for j := range seed {
			seed[j] = byte(r.Uint32())
		}
		priv, _, err := crypto.GenerateEd25519Key(&byteReader{seed})
		if err != nil {
			t.Fatal(err)
		}
		h, err := libp2p.New(
			libp2p.Identity(priv),
			libp2p.PrivateNetwork(psk),
			libp2p.NoListenAddrs,
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.DisableMetrics(),
		)
		if err != nil {
			t.Fatal(err)
		}
		hosts[i] = h
		t.Cleanup(func() { _ = h.Close() })
	}
	// Connect every pair, a few dials at a time: on a loaded machine (the
	// race detector, 2 shared cores) 120 simultaneous handshakes time out.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	errs := make(chan error, n*n)
	for i := range hosts {
		for j := i + 1; j < n; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				ai := peer.AddrInfo{ID: hosts[j].ID(), Addrs: hosts[j].Addrs()}
				err := hosts[i].Connect(ctx, ai)
				if err != nil { // one retry: a dial can lose a race with the other side's
					err = hosts[i].Connect(ctx, ai)
				}
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return hosts
}

type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	n := copy(p, r.b)
	r.b = r.b[n:]
	if n < len(p) {
		for i := n; i < len(p); i++ {
			p[i] = byte(i)
		}
	}
	return len(p), nil
}

type peerSet struct {
	hosts []host.Host
	avgs  []*Averager
	ids   []peer.ID
}

// newPeers joins one averager per host; vec(i) gives each its vector.
func newPeers(t testing.TB, n int, vec func(i int) []float32, cfg func(i int) Config) *peerSet {
	hosts := newHosts(t, n)
	ps := &peerSet{hosts: hosts}
	for i, h := range hosts {
		c := Config{Seed: uint64(i + 1), Timeout: 20 * time.Second}
		if cfg != nil {
			c = cfg(i)
			c.Seed = uint64(i + 1)
		}
		a, err := NewService(h, testProto).Join("job-test", vec(i), c)
		if err != nil {
			t.Fatal(err)
		}
		ps.avgs = append(ps.avgs, a)
		ps.ids = append(ps.ids, h.ID())
	}
	return ps
}

// read copies every peer's params (under their locks).
func (ps *peerSet) read() [][]float32 {
	out := make([][]float32, len(ps.avgs))
	for i, a := range ps.avgs {
		a.Lock()
		out[i] = slices.Clone(a.Params())
		a.Unlock()
	}
	return out
}

// consensusDistance is max_i ‖x_i − x̄‖ / ‖x̄‖, measured exactly.
func consensusDistance(xs [][]float32) float64 {
	mean := make([]float64, len(xs[0]))
	for _, x := range xs {
		for j, v := range x {
			mean[j] += float64(v) / float64(len(xs))
		}
	}
	var mn float64
	for _, m := range mean {
		mn += m * m
	}
	worst := 0.0
	for _, x := range xs {
		var s float64
		for j, v := range x {
			d := float64(v) - mean[j]
			s += d * d
		}
		worst = max(worst, math.Sqrt(s/mn))
	}
	return worst
}

func sumOf(xs [][]float32, w []float64) []float64 {
	s := make([]float64, len(xs[0]))
	for i, x := range xs {
		for j, v := range x {
			s[j] += w[i] * float64(v)
		}
	}
	return s
}

// roundAll runs one round: every peer does one Round concurrently.
func (ps *peerSet) roundAll(t testing.TB, ctx context.Context) (failed int) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, a := range ps.avgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Round(ctx, ps.ids); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
				t.Logf("round: %v", err)
			}
		}()
	}
	wg.Wait()
	return failed
}

func TestPairwiseWeightedAverage(t *testing.T) {
	const n = 5000
	r := rand.New(rand.NewPCG(5, 6))
	x0, x1 := randVec(r, n, 1), randVec(r, n, 1)
	ps := newPeers(t, 2, func(i int) []float32 { return slices.Clone([][]float32{x0, x1}[i]) }, nil)
	ps.avgs[0].AddSamples(300)
	ps.avgs[1].AddSamples(100)
	ctx := context.Background()
	st, err := ps.avgs[0].ExchangeWith(ctx, ps.ids[1])
	if err != nil {
		t.Fatal(err)
	}
	got := ps.read()
	for j := range got[0] {
		if math.Float32bits(got[0][j]) != math.Float32bits(got[1][j]) {
			t.Fatalf("element %d differs: %v vs %v", j, got[0][j], got[1][j])
		}
		want := 0.75*float64(x0[j]) + 0.25*float64(x1[j])
		if math.Abs(float64(got[0][j])-want) > 1e-6 {
			t.Fatalf("element %d = %v, want %v", j, got[0][j], want)
		}
	}
	if st.BytesSent < 4*n || st.BytesRecv < 4*n || st.Partner != ps.ids[1] {
		t.Errorf("stats %+v", st)
	}
	// Weighted sum preserved.
	before := sumOf([][]float32{x0, x1}, []float64{300, 100})
	after := sumOf(got, []float64{300, 100})
	for j := range before {
		if math.Abs(before[j]-after[j]) > 1e-3 {
			t.Fatalf("weighted sum moved at %d: %v -> %v", j, before[j], after[j])
		}
	}
	tot0, tot1 := ps.avgs[0].Totals(), ps.avgs[1].Totals()
	if tot0.Exchanges != 1 || tot1.Served != 1 {
		t.Errorf("totals %+v %+v", tot0, tot1)
	}
	// Equal weights in the consensus phase.
	ps.avgs[0].SetConsensus(true)
	if _, err := ps.avgs[1].ExchangeWith(ctx, ps.ids[0]); err != nil {
		t.Fatal(err)
	}
}

// TestCompressedBytes measures bytes of one exchange per encoding and
// checks error feedback keeps the mean of params+residual.
func TestCompressedBytes(t *testing.T) {
	const n = 100_000
	for _, c := range []struct {
		enc   Encoding
		ratio float64
	}{{EncF32, 1.1}, {EncF16, 0.55}, {EncInt8, 0.3}} {
		t.Run(c.enc.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			xs := [][]float32{randVec(r, n, 0.1), randVec(r, n, 0.1)}
			ps := newPeers(t, 2, func(i int) []float32 { return slices.Clone(xs[i]) },
				func(int) Config { return Config{Encoding: c.enc} })
			ctx := context.Background()
			for k := 0; k < 3; k++ {
				st, err := ps.avgs[k%2].ExchangeWith(ctx, ps.ids[1-k%2])
				if err != nil {
					t.Fatal(err)
				}
				model := float64(4 * n)
				t.Logf("%s exchange %d: sent %d recv %d bytes = %.4f / %.4f of the f32 model", c.enc, k,
					st.BytesSent, st.BytesRecv, float64(st.BytesSent)/model, float64(st.BytesRecv)/model)
				if float64(st.BytesSent) > c.ratio*model || float64(st.BytesRecv) > c.ratio*model {
					t.Errorf("bytes %d/%d exceed %.2f × %d", st.BytesSent, st.BytesRecv, c.ratio, 4*n)
				}
			}
			got := ps.read()
			if d := consensusDistance(got); d != 0 {
				t.Errorf("after exchange the pair differs: %g", d)
			}
			// Mean of params + residual is preserved exactly up to rounding.
			before := sumOf(xs, []float64{1, 1})
			after := sumOf(got, []float64{1, 1})
			for _, a := range ps.avgs {
				for j, r := range a.resid {
					after[j] += float64(r)
				}
			}
			var worst float64
			for j := range before {
				worst = max(worst, math.Abs(before[j]-after[j]))
			}
			if worst > 1e-5 {
				t.Errorf("sum of params+residual moved by %g", worst)
			}
		})
	}
}

// TestConsensus16 is the benchmark quoted in the package doc: 16 hosts, random vectors of
// 100k floats, pairwise averaging alone; a round = every peer calls Round
// once, so takes part in about one exchange. Must reach relative distance
// 1e-3 within 30 rounds and, what the pacing is for, with fewer bytes per
// peer than the 27 model copies of the unpaced rounds it replaced (13–14
// rounds of about 2 exchanges each).
func TestConsensus16(t *testing.T) {
	if testing.Short() {
		t.Skip("16 hosts: skipped with -short")
	}
	const peers = 16
	n := 100_000
	if raceEnabled {
		n = 20_000
	}
	for _, c := range []struct {
		name   string
		offset float64
	}{{"zero-mean", 0}, {"mean-1", 1}} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(11, 12))
			ps := newPeers(t, peers, func(int) []float32 {
				v := randVec(r, n, 1)
				for j := range v {
					v[j] += float32(c.offset)
				}
				return v
			}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			d := consensusDistance(ps.read())
			t.Logf("round 0: distance %.4g", d)
			var prevSent int64
			reached := 0
			for round := 1; round <= 40 && reached == 0; round++ {
				failed := ps.roundAll(t, ctx)
				d = consensusDistance(ps.read())
				var sent, exch int64
				for _, a := range ps.avgs {
					tt := a.Totals()
					sent += tt.BytesSent
					exch += tt.Exchanges
				}
				t.Logf("round %d: distance %.4g, failed rounds %d, bytes sent per peer this round %.3f × model (%d exchanges so far)",
					round, d, failed, float64(sent-prevSent)/peers/float64(4*n), exch)
				prevSent = sent
				if d < 1e-3 {
					reached = round
				}
			}
			copies := float64(prevSent) / peers / float64(4*n)
			t.Logf("%s: relative distance < 1e-3 after %d rounds, %.2f model copies sent per peer", c.name, reached, copies)
			if reached == 0 || reached > 30 {
				t.Fatalf("consensus took %d rounds (0 = not within 40), want <= 30", reached)
			}
			if copies > 27 {
				t.Errorf("consensus cost %.2f model copies per peer, want fewer than the 27 of unpaced rounds", copies)
			}
		})
	}
}

// TestOneExchangePerPeriod: peers calling Round concurrently, each at its
// own pace, take part in at most one exchange per call (period), bar one
// that straddles a boundary, and so send about one model copy per period.
func TestOneExchangePerPeriod(t *testing.T) {
	const peers, periods, n = 8, 12, 20_000
	r := rand.New(rand.NewPCG(21, 22))
	ps := newPeers(t, peers, func(int) []float32 { return randVec(r, n, 1) }, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	completed := make([]int, peers)
	for i, a := range ps.avgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range periods {
				if _, err := a.Round(ctx, ps.ids); err == nil {
					completed[i]++
				}
			}
		}()
	}
	wg.Wait()
	var total int64
	for i, a := range ps.avgs {
		tt := a.Totals()
		took := tt.Exchanges + tt.Served
		total += took
		if took > periods+1 {
			t.Errorf("peer %d took part in %d exchanges over %d periods", i, took, periods)
		}
		if copies := float64(tt.BytesSent) / float64(4*n); copies > float64(periods+1)*1.01 {
			t.Errorf("peer %d sent %.2f model copies over %d periods", i, copies, periods)
		}
		if completed[i] == 0 {
			t.Errorf("peer %d never averaged", i)
		}
	}
	// Two ends per exchange: at least a third of the peers' periods had one
	// (most do; collisions leave some without).
	if total < peers*periods/3 {
		t.Errorf("only %d exchange ends over %d peer-periods", total, peers*periods)
	}
	t.Logf("%d exchange ends over %d peer-periods", total, peers*periods)
}

// TestDeadPartner: a partner that dies mid-exchange aborts the round with
// an error and leaves params untouched.
func TestDeadPartner(t *testing.T) {
	const n = 50_000
	r := rand.New(rand.NewPCG(13, 14))
	x := randVec(r, n, 1)
	hosts := newHosts(t, 3)
	a, err := NewService(hosts[0], testProto).Join("job-test", slices.Clone(x), Config{Timeout: 10 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	// hosts[1] accepts, reads part of the vector, then its host dies.
	hosts[1].SetStreamHandler(testProto, func(s network.Stream) {
		if _, err := readHeader(s); err != nil {
			return
		}
		_ = writeHeader(s, &header{Kind: kindAccept})
		buf := make([]byte, 1000)
		_, _ = s.Read(buf)
		_ = hosts[1].Close()
	})
	// hosts[2] takes the whole vector, sends half a reply, then resets.
	hosts[2].SetStreamHandler(testProto, func(s network.Stream) {
		h, err := readHeader(s)
		if err != nil {
			return
		}
		_ = writeHeader(s, &header{Kind: kindAccept})
		if _, err := readPayload(s, &h, make([]float32, h.Length), nil); err != nil {
			return
		}
		reply := h
		reply.Kind = kindReply
		_ = writeHeader(s, &reply)
		_, _ = s.Write(make([]byte, 4*n/2))
		_ = s.Reset()
	})
	for _, p := range []peer.ID{hosts[1].ID(), hosts[2].ID()} {
		_, err := a.Round(context.Background(), []peer.ID{p})
		if err == nil {
			t.Fatal("exchange with a dying partner succeeded")
		}
		t.Logf("dead partner: %v", err)
		a.Lock()
		same := slices.Equal(a.Params(), x)
		a.Unlock()
		if !same {
			t.Fatal("params changed after a failed exchange")
		}
	}
	if tt := a.Totals(); tt.Failed != 2 || tt.Exchanges != 0 {
		t.Errorf("totals %+v", tt)
	}
	if rep := a.Reputation(hosts[2].ID()); rep != 1 {
		t.Errorf("a dropped connection cost reputation: %v", rep)
	}
}

// TestTrainerConcurrency runs a trainer goroutine on every peer (Lock, step,
// Unlock) while exchanges come and go; run with -race. The sum over peers
// must equal the initial sum plus all local steps.
func TestTrainerConcurrency(t *testing.T) {
	const peers, n, steps = 4, 2000, 200
	r := rand.New(rand.NewPCG(15, 16))
	xs := make([][]float32, peers)
	for i := range xs {
		xs[i] = randVec(r, n, 1)
	}
	ps := newPeers(t, peers, func(i int) []float32 { return slices.Clone(xs[i]) }, nil)
	for _, a := range ps.avgs {
		a.SetConsensus(true) // equal weights: the plain sum is the invariant
	}
	before := sumOf(xs, []float64{1, 1, 1, 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for _, a := range ps.avgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := 0; s < steps; s++ {
				a.Lock()
				p := a.Params()
				for j := range p {
					p[j] += 0.001 // a "local step"
				}
				a.AddSamples(32) // allowed under Lock
				a.Unlock()
				if s%10 == 0 {
					_, _ = a.Round(ctx, ps.ids)
				}
			}
		}()
	}
	wg.Wait()
	after := sumOf(ps.read(), []float64{1, 1, 1, 1})
	var worst float64
	for j := range before {
		worst = max(worst, math.Abs(after[j]-(before[j]+peers*steps*0.001)))
	}
	var served int64
	for _, a := range ps.avgs {
		served += a.Totals().Served
	}
	t.Logf("exchanges served: %d, worst sum drift %.3g", served, worst)
	if served == 0 {
		t.Fatal("no exchange happened")
	}
	if worst > 1e-3 {
		t.Fatalf("sum over peers drifted by %g: a local step or an average was lost", worst)
	}
}

// TestDeadInitiator: an initiator that vanishes after the responder's reply
// (no commit) leaves the responder untouched and free for the next exchange.
func TestDeadInitiator(t *testing.T) {
	const n = 10_000
	r := rand.New(rand.NewPCG(17, 18))
	x := randVec(r, n, 1)
	hosts := newHosts(t, 3)
	b, err := NewService(hosts[1], testProto).Join("job-test", slices.Clone(x), Config{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := hosts[0].NewStream(ctx, hosts[1].ID(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	v := randVec(r, n, 1)
	dec := make([]float32, n)
	payload := encodeVector(nil, EncF32, DefaultChunk, v, dec)
	push := header{Kind: kindPush, Enc: EncF32, Length: n, Chunk: DefaultChunk, Sum: sha256.Sum256(payload), Job: "job-test"}
	if err := writeHeader(s, &push); err != nil {
		t.Fatal(err)
	}
	if h, err := readHeader(s); err != nil || h.Kind != kindAccept {
		t.Fatalf("accept: %v %v", h.Kind, err)
	}
	if _, err := s.Write(payload); err != nil {
		t.Fatal(err)
	}
	rep, err := readHeader(s)
	if err != nil || rep.Kind != kindReply {
		t.Fatalf("reply: %v %v", rep.Kind, err)
	}
	if _, err := readPayload(s, &rep, make([]float32, n), nil); err != nil {
		t.Fatal(err)
	}
	_ = s.Reset() // dies before commit
	// The responder is free again (its exchange slot released) and untouched.
	c, err := NewService(hosts[2], testProto).Join("job-test", slices.Clone(v), Config{})
	if err != nil {
		t.Fatal(err)
	}
	b.Lock()
	same := slices.Equal(b.Params(), x)
	b.Unlock()
	if !same {
		t.Fatal("responder applied an average without commit")
	}
	// Round, not ExchangeWith: the responder may need a moment to see the
	// reset, and Round retries a busy partner.
	if _, err := c.Round(ctx, []peer.ID{hosts[1].ID()}); err != nil {
		t.Fatalf("responder stuck after a dead initiator: %v", err)
	}
}

// TestSilentPartnerDeadline: once an exchange has completed, a partner that
// accepts and then goes silent (a network split: the connection stays up)
// is given up on after the exchange deadline (exchangeTimeout), seconds,
// not Config.Timeout.
func TestSilentPartnerDeadline(t *testing.T) {
	const n = 10_000
	r := rand.New(rand.NewPCG(31, 32))
	ps := newPeers(t, 2, func(int) []float32 { return randVec(r, n, 1) },
		func(int) Config { return Config{Timeout: time.Minute, Attempts: 1} })
	ctx := context.Background()
	if _, err := ps.avgs[0].ExchangeWith(ctx, ps.ids[1]); err != nil {
		t.Fatal(err)
	}
	silent := newHosts(t, 1)[0]
	ps.hosts[0].Peerstore().AddAddrs(silent.ID(), silent.Addrs(), time.Hour)
	stop := make(chan struct{})
	defer close(stop)
	silent.SetStreamHandler(testProto, func(s network.Stream) {
		if _, err := readHeader(s); err == nil {
			_ = writeHeader(s, &header{Kind: kindAccept})
		}
		<-stop // then nothing more, the stream open
	})
	want := ps.avgs[0].exchangeTimeout()
	if want >= time.Minute || want < minExchangeTimeout {
		t.Fatalf("deadline after one quick exchange is %v", want)
	}
	start := time.Now()
	_, err := ps.avgs[0].ExchangeWith(ctx, silent.ID())
	took := time.Since(start)
	if err == nil {
		t.Fatal("exchange with a silent partner succeeded")
	}
	t.Logf("silent partner given up after %v (deadline %v): %v", took, want, err)
	if took > want+5*time.Second {
		t.Errorf("gave up after %v, want about %v", took, want)
	}
}

// TestEndPeriods: a peer that had its exchange in its last period and then
// stops calling Round (done training, waiting for the others) refuses
// partners until it says so with EndPeriods; then a peer still training
// averages with it again.
func TestEndPeriods(t *testing.T) {
	const n = 10_000
	r := rand.New(rand.NewPCG(31, 32))
	ps := newPeers(t, 2, func(int) []float32 { return randVec(r, n, 1) },
		func(int) Config { return Config{Timeout: 20 * time.Second, Attempts: 2} })
	done, training := ps.avgs[0], ps.avgs[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The last period of the peer that is done: it initiates and averages.
	if _, err := done.Round(ctx, ps.ids); err != nil {
		t.Fatalf("last round of the finished peer: %v", err)
	}
	if _, err := training.Round(ctx, ps.ids); !errors.Is(err, ErrBusy) {
		t.Fatalf("round against a peer whose period never ends: %v, want ErrBusy (averaged this period)", err)
	}
	done.EndPeriods()
	for i := range 3 {
		st, err := training.Round(ctx, ps.ids)
		if err != nil {
			t.Fatalf("round %d after EndPeriods: %v", i, err)
		}
		if st.Partner != ps.ids[0] {
			t.Fatalf("round %d averaged with %s, want the finished peer", i, st.Partner)
		}
	}
	if got := done.Totals().Served; got != 3 {
		t.Errorf("finished peer served %d exchanges, want 3", got)
	}
}
