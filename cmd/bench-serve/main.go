// Command bench-serve measures the model server: TF Serving REST :predict
// on an MNIST mlp trained for one epoch, from a fixed number of client
// goroutines (1, 16 and 64 by default), each sending one request after
// another over kept-alive connections, one MNIST test image a request.
// The same generator sends the same bodies to the model server's
// benchmark route (modelserver.Config.BenchCeiling, POST /v1/ceiling, on
// the same listener), which reads the body and answers a fixed JSON
// object: the HTTP ceiling on these cores. It also sends the same
// requests to a second node that does not hold the model, so they are
// forwarded over the mesh to the first.
//
// Both nodes (serve/node, mesh on 127.0.0.1 under a fresh pre-shared key,
// mDNS off) and the load generator run in this one process: client and
// server share the machine's cores, so the figures are what one machine
// does playing both parts, not what a server does for remote clients.
//
// It prints a table with the goals on stderr and one JSON object on
// stdout, its last line:
//
//	go run ./cmd/bench-serve -shoal bin/shoal -mnist "$(make -s mnist)"
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/inference"
	"github.com/shoalmesh/shoal/serve/modelserver"
	"github.com/shoalmesh/shoal/serve/node"
	"github.com/shoalmesh/shoal/serve/registry"
)

// modelName is what the model is published as.
const modelName = "mnist"

// Goals, printed beside the figures.
const (
	goalRatio         = 0.5 // c16 predict / ceiling, with batching on
	goalForwardExtra  = 1.0 // ms a forwarded p50 may add to the local one
	goalP99           = 10  // ms, predict p99 at c=16
	ratioLevel        = 16  // the level the ratio and the p99 goal are read at
	distinctBodies    = 64  // MNIST test images the requests cycle through
	defaultForwardFor = 15 * time.Second
)

type options struct {
	shoal, mnist, model string
	levels              []int
	duration, warmup    time.Duration
	requests            int
	maxBatch            int
	batchTimeout        time.Duration
	forwardWait         time.Duration
	verbose, strict     bool
	cpuProfile          string
}

func main() {
	var o options
	levels := flag.String("levels", "1,16,64", "client goroutines of each level, comma-separated")
	flag.StringVar(&o.shoal, "shoal", "bin/shoal", "the shoal binary (trains the model)")
	flag.StringVar(&o.mnist, "mnist", "", "MNIST folder (make -s mnist)")
	flag.StringVar(&o.model, "model", "", "an mlp model file to serve instead of training one")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long each level runs against each target (when -requests is 0)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each level, not counted")
	flag.IntVar(&o.requests, "requests", 0, "requests of each level against each target instead of -duration")
	flag.IntVar(&o.maxBatch, "max-batch-size", 0, "registry.Options.MaxBatchSize (0: the registry's default, 32; 1: no batching)")
	flag.DurationVar(&o.batchTimeout, "batch-timeout", 0, "registry.Options.BatchTimeout")
	flag.DurationVar(&o.forwardWait, "forward-wait", defaultForwardFor, "how long to wait for node 1 to answer a forwarded query before reporting forwarding as not available")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole process (generator and nodes) while predict runs at c=16 to this file")
	flag.BoolVar(&o.verbose, "v", false, "log the nodes' warnings on stderr")
	flag.BoolVar(&o.strict, "strict", false, "exit 1 when a goal is missed or a figure is not available")
	flag.Parse()
	for _, f := range strings.Split(*levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			fmt.Fprintf(os.Stderr, "bench-serve: -levels: %q is not a positive number\n", f)
			os.Exit(2)
		}
		o.levels = append(o.levels, c)
	}
	if o.mnist == "" {
		fmt.Fprintln(os.Stderr, "bench-serve: -mnist is required (make -s mnist prints it)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-serve:", err)
		os.Exit(1)
	}
}

// result is one target at one level.
type result struct {
	Conc     int     `json:"concurrency"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"per_sec"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	// FirstError is the first failed request's status and body, or the
	// client's error.
	FirstError string `json:"first_error,omitempty"`
	// ServedBy counts answers that named the peer that served them
	// (inference.ServedByHeader): a forwarded query's answer does.
	ServedBy int `json:"served_by"`
}

// summary is the last line on stdout.
type summary struct {
	C16PredictPerSec float64  `json:"c16_predict_per_sec"`
	C16CeilingPerSec float64  `json:"c16_ceiling_per_sec"`
	C16Ratio         float64  `json:"c16_ratio"`
	LocalP50ms       float64  `json:"local_p50_ms"`
	ForwardedP50ms   *float64 `json:"forwarded_p50_ms"`
	P99ms            float64  `json:"p99_ms"`
}

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "bench-serve")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	modelPath := o.model
	if modelPath == "" {
		modelPath = filepath.Join(tmp, "mlp.safetensors")
		t0 := time.Now()
		cmd := exec.CommandContext(ctx, o.shoal, "train", "--model", "mlp", "--data", o.mnist, "--epochs", "1", "--out", modelPath)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail(stderr.String(), 2000))
		}
		fmt.Fprintf(os.Stderr, "trained mlp for 1 epoch in %.1f s\n", time.Since(t0).Seconds())
	}
	bodies, err := mnistBodies(o.mnist, distinctBodies)
	if err != nil {
		return err
	}

	nodes, err := startNodes(ctx, o, tmp)
	if err != nil {
		return err
	}
	defer func() {
		for _, n := range nodes {
			_ = n.Close()
		}
	}()
	if _, err := nodes[0].Models().PublishFile(modelName, modelPath); err != nil {
		return fmt.Errorf("publish: %w", err)
	}

	client := newClient(slices.Max(o.levels))
	local := "http://" + nodes[0].ServeAddr()
	predictURL := local + "/v1/models/" + modelName + ":predict"
	ceilingURL := local + modelserver.CeilingPath
	forwardURL := "http://" + nodes[1].ServeAddr() + "/v1/models/" + modelName + ":predict"
	if err := waitOK(ctx, client, predictURL, bodies[0], 30*time.Second); err != nil {
		return fmt.Errorf("node 0 never served the model: %w", err)
	}
	forwarded, why := forwardingReady(ctx, client, nodes, forwardURL, bodies[0], o.forwardWait)
	if !forwarded {
		fmt.Fprintf(os.Stderr, "forwarded over the mesh: not available (%s)\n", why)
	}

	var bodyBytes int
	for _, b := range bodies {
		bodyBytes += len(b)
	}
	fmt.Fprintf(os.Stderr, "GOMAXPROCS %d, %d CPUs; load generator and both nodes share them. batching: max batch %s, timeout %v. %s a level and target after %v warm-up; bodies of %d MNIST images, %d B each on average\n",
		runtime.GOMAXPROCS(0), runtime.NumCPU(), orDefault(o.maxBatch, "32 (default)"), o.batchTimeout, perLevel(o), o.warmup, len(bodies), bodyBytes/len(bodies))
	fmt.Fprintf(os.Stderr, "%-10s %4s %10s %9s %9s %8s %7s\n", "target", "c", "req/s", "p50 ms", "p99 ms", "ratio", "errors")
	byTarget := map[string][]result{}
	for _, c := range o.levels {
		targets := []struct{ name, url string }{{"predict", predictURL}, {"ceiling", ceilingURL}}
		if forwarded {
			targets = append(targets, struct{ name, url string }{"forwarded", forwardURL})
		}
		var ceiling float64
		var got []result
		for _, t := range targets {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			prof := o.cpuProfile != "" && t.name == "predict" && c == ratioLevel
			r, err := drive(ctx, client, t.url, bodies, c, o, prof)
			if err != nil {
				return err
			}
			byTarget[t.name] = append(byTarget[t.name], r)
			got = append(got, r)
			if t.name == "ceiling" {
				ceiling = r.PerSec
			}
			if r.Errors > 0 {
				fmt.Fprintf(os.Stderr, "  %s at c=%d: %d errors, first: %s\n", t.name, c, r.Errors, r.FirstError)
			}
		}
		for i, r := range got {
			ratio := "-"
			if targets[i].name != "ceiling" && ceiling > 0 {
				ratio = fmt.Sprintf("%.3f", r.PerSec/ceiling)
			}
			fmt.Fprintf(os.Stderr, "%-10s %4d %10.0f %9.3f %9.3f %8s %7d\n", targets[i].name, c, r.PerSec, r.P50ms, r.P99ms, ratio, r.Errors)
		}
	}

	at := func(name string, c int) (result, bool) {
		for _, r := range byTarget[name] {
			if r.Conc == c {
				return r, true
			}
		}
		return result{}, false
	}
	var s summary
	var missed []string
	fmt.Fprintln(os.Stderr, "goals:")
	p16, okP := at("predict", ratioLevel)
	c16, okC := at("ceiling", ratioLevel)
	if okP && okC && c16.PerSec > 0 {
		s.C16PredictPerSec, s.C16CeilingPerSec = round(p16.PerSec, 1), round(c16.PerSec, 1)
		s.C16Ratio = round(p16.PerSec/c16.PerSec, 3)
		s.P99ms = round(p16.P99ms, 3)
		missed = append(missed, goal(fmt.Sprintf("c=%d predict/ceiling ≥ %.1f", ratioLevel, goalRatio),
			fmt.Sprintf("%.3f (%.0f / %.0f req/s)", s.C16Ratio, p16.PerSec, c16.PerSec), s.C16Ratio >= goalRatio,
			fmt.Sprintf("%.3f short, %.0f req/s more needed", goalRatio-s.C16Ratio, goalRatio*c16.PerSec-p16.PerSec))...)
		missed = append(missed, goal(fmt.Sprintf("c=%d predict p99 ≤ %d ms", ratioLevel, goalP99),
			fmt.Sprintf("%.3f ms", s.P99ms), s.P99ms <= goalP99, fmt.Sprintf("%.3f ms over", s.P99ms-goalP99))...)
	} else {
		missed = append(missed, goal(fmt.Sprintf("c=%d figures", ratioLevel), "not measured (add 16 to -levels)", false, "not measured")...)
	}
	l1, okL := at("predict", 1)
	if okL {
		s.LocalP50ms = round(l1.P50ms, 3)
	}
	f1, okF := at("forwarded", 1)
	switch {
	case !forwarded:
		missed = append(missed, goal(fmt.Sprintf("forwarded p50 ≤ local p50 + %.0f ms", goalForwardExtra), "not available yet: "+why, false, "not available")...)
	case okF && okL:
		v := round(f1.P50ms, 3)
		s.ForwardedP50ms = &v
		missed = append(missed, goal(fmt.Sprintf("forwarded p50 ≤ local p50 + %.0f ms", goalForwardExtra),
			fmt.Sprintf("%.3f ms vs %.3f ms local (+%.3f ms; %d/%d answers named the serving peer)", v, s.LocalP50ms, v-s.LocalP50ms, f1.ServedBy, f1.Requests),
			v <= s.LocalP50ms+goalForwardExtra, fmt.Sprintf("%.3f ms over", v-s.LocalP50ms-goalForwardExtra))...)
	default:
		missed = append(missed, goal("forwarded p50", "not measured (add 1 to -levels)", false, "not measured")...)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	for _, rs := range byTarget {
		for _, r := range rs {
			if r.Errors > 0 {
				return fmt.Errorf("%d requests failed at c=%d: %s", r.Errors, r.Conc, r.FirstError)
			}
		}
	}
	if o.strict && len(missed) > 0 {
		return fmt.Errorf("goals missed: %s", strings.Join(missed, "; "))
	}
	return nil
}

// goal prints one goal's line and returns its name when missed.
func goal(name, got string, ok bool, by string) []string {
	verdict := "ok"
	if !ok {
		verdict = "MISSED (" + by + ")"
	}
	fmt.Fprintf(os.Stderr, "  %-38s %s: %s\n", name, verdict, got)
	if ok {
		return nil
	}
	return []string{name + ": " + by}
}

// startNodes starts two nodes on 127.0.0.1, the second bootstrapped from
// the first, both with the benchmark's batching options; node 0's model
// server also has the ceiling route.
func startNodes(ctx context.Context, o options, tmp string) ([]*node.Node, error) {
	psk, err := mesh.NewKey()
	if err != nil {
		return nil, err
	}
	log := slog.New(slog.DiscardHandler)
	if o.verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var nodes []*node.Node
	for i := range 2 {
		cfg := node.Config{
			Mesh: mesh.Config{
				DataDir: filepath.Join(tmp, "node"+strconv.Itoa(i)), PSK: psk, Listen: []string{mesh.DefaultListen},
				Name: "bench-" + strconv.Itoa(i), Role: mesh.RoleFull, Version: "bench", MDNS: false,
				HeartbeatInterval: 500 * time.Millisecond, PeerTimeout: 5 * time.Second,
			},
			API:      serve.ControlConfig{Addr: "127.0.0.1:0"},
			Serve:    modelserver.Config{Addr: "127.0.0.1:0", BenchCeiling: i == 0},
			Registry: registry.Options{MaxBatchSize: o.maxBatch, BatchTimeout: o.batchTimeout},
			Logger:   log.With("node", i),
		}
		if i > 0 {
			cfg.Mesh.Bootstrap = nodes[0].Mesh().Addrs()
		}
		n, err := node.Start(sctx, cfg)
		if err != nil {
			for _, n := range nodes {
				_ = n.Close()
			}
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// forwardingReady waits for node 1 to hear that node 0 holds the model,
// then for a query sent to node 1 to be answered; it says why not when
// wait runs out first.
func forwardingReady(ctx context.Context, c *http.Client, nodes []*node.Node, url string, body []byte, wait time.Duration) (bool, string) {
	deadline := time.Now().Add(wait)
	for !slices.ContainsFunc(nodes[1].Mesh().Peers(), func(p mesh.PeerInfo) bool {
		return p.Alive && slices.Contains(p.Models, modelName)
	}) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, fmt.Sprintf("node 1 did not hear within %v that node 0 holds %s", wait, modelName)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := waitOK(ctx, c, url, body, time.Until(deadline)); err != nil {
		return false, fmt.Sprintf("node 1 answered a query for a model only node 0 holds with %v", err)
	}
	return true, ""
}

// waitOK posts body to url until it answers 200, for up to wait.
func waitOK(ctx context.Context, c *http.Client, url string, body []byte, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		code, msg, err := post(ctx, c, url, body)
		switch {
		case err == nil && code == http.StatusOK:
			return nil
		case err == nil:
			err = fmt.Errorf("%d %s", code, strings.TrimSpace(tail(msg, 300)))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func post(ctx context.Context, c *http.Client, url string, body []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// newClient keeps a connection alive for every goroutine of the largest
// level; no proxy, no compression.
func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}, Timeout: 30 * time.Second}
}

// drive runs conc goroutines, each sending the next request once the last
// is answered and its body read: first for o.warmup (not counted), then
// for o.duration or o.requests requests in all.
func drive(ctx context.Context, c *http.Client, url string, bodies [][]byte, conc int, o options, profile bool) (result, error) {
	if o.warmup > 0 {
		load(ctx, c, url, bodies, conc, time.Now().Add(o.warmup), 0)
	}
	if profile {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return result{}, err
		}
		defer pprof.StopCPUProfile()
	}
	var deadline time.Time
	if o.requests <= 0 {
		deadline = time.Now().Add(o.duration)
	}
	start := time.Now()
	lats, r := load(ctx, c, url, bodies, conc, deadline, o.requests)
	r.Seconds = time.Since(start).Seconds()
	r.Conc = conc
	r.Requests = len(lats)
	if r.Seconds > 0 {
		r.PerSec = float64(len(lats)) / r.Seconds
	}
	slices.Sort(lats)
	r.P50ms = quantile(lats, 0.50)
	r.P99ms = quantile(lats, 0.99)
	return r, nil
}

// load is the generator: until deadline (when not zero) or until n
// requests have been sent (when n > 0). It returns the latencies of the
// answered requests, 200 or not, and counts the others as errors.
func load(ctx context.Context, c *http.Client, url string, bodies [][]byte, conc int, deadline time.Time, n int) ([]time.Duration, result) {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		all    []time.Duration
		r      result
		wg     sync.WaitGroup
		served atomic.Int64
	)
	for g := range conc {
		wg.Go(func() {
			lats := make([]time.Duration, 0, 4096)
			var errs int
			var first string
			for i := g; ; i += conc {
				if n > 0 {
					if next.Add(1) > int64(n) {
						break
					}
				} else if time.Now().After(deadline) {
					break
				}
				if ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				code, by, msg, err := once(ctx, c, url, bodies[i%len(bodies)])
				lat := time.Since(t0)
				if err != nil || code != http.StatusOK {
					errs++
					if first == "" {
						if err != nil {
							first = err.Error()
						} else {
							first = fmt.Sprintf("%d %s", code, strings.TrimSpace(tail(msg, 300)))
						}
					}
					continue
				}
				if by {
					served.Add(1)
				}
				lats = append(lats, lat)
			}
			mu.Lock()
			all = append(all, lats...)
			r.Errors += errs
			if r.FirstError == "" {
				r.FirstError = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	r.ServedBy = int(served.Load())
	return all, r
}

// once sends one request and reads the whole answer; the body is kept
// only when the status is not 200.
func once(ctx context.Context, c *http.Client, url string, body []byte) (code int, servedBy bool, msg string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, false, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, false, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, false, string(b), nil
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get(inference.ServedByHeader) != "", "", err
}

// mnistBodies is k TF Serving :predict bodies in the row form, one MNIST
// test image (784 values in [0, 1]) each.
func mnistBodies(dir string, k int) ([][]byte, error) {
	_, test, err := data.LoadMNIST(dir)
	if err != nil {
		return nil, err
	}
	size := test.SampleSize()
	if test.N < k {
		return nil, fmt.Errorf("MNIST test set has %d images, want %d", test.N, k)
	}
	bodies := make([][]byte, k)
	for i := range bodies {
		b := []byte(`{"instances":[[`)
		for j, v := range test.X[i*size : (i+1)*size] {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
		}
		bodies[i] = append(b, "]]}"...)
	}
	return bodies, nil
}

// quantile is the nearest-rank quantile of sorted latencies, in ms; 0
// when there are none (every request failed, which fails the run).
func quantile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func orDefault(n int, def string) string {
	if n == 0 {
		return def
	}
	return strconv.Itoa(n)
}

func perLevel(o options) string {
	if o.requests > 0 {
		return fmt.Sprintf("%d requests", o.requests)
	}
	return o.duration.String()
}
