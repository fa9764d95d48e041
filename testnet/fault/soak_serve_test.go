//go:build soak

package fault

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
)

// Serving under load (issue 16): one `shoal serve` process with a short
// queue (--max-queue 4, --max-batch-size 2: 6 requests in flight at most).

const (
	serveQueue = 4
	serveBatch = 2
)

// TestSoakServe: a flood of queries at 10× what the server holds in
// flight gets 429s for the excess, never an error of another kind, a hang
// or a crash, and the server's memory stays bounded; then a flood of
// malformed requests (bad JSON, wrong types, an unknown model, a body over
// the 16 MiB cap) leaves another client's p99 latency within 2× of its
// quiet figure (a FINDING where it does not).
func TestSoakServe(t *testing.T) {
	r := newRow(t, "serving: 10× flood, malformed")
	r.mode = "loopback"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	model := filepath.Join(dir, "days.safetensors")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.CommandContext(ctx, shoalBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("shoal %v: %v\n%s", args, err, out)
		}
	}
	run("train", "--model", "seed-text", "--data", datatest.DaysTSV(t, 80), "--epochs", "2", "--out", model)
	run("models", "add", "days", model, "--data-dir", filepath.Join(dir, "node"))
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(shoalBin, "serve", "--models", filepath.Join(dir, "node", "models"), "--http", addr,
		"--max-queue", strconv.Itoa(serveQueue), "--max-batch-size", strconv.Itoa(serveBatch), "--log-level", "warn")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log := newLogBuffer()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("shoal serve log:\n%s", tail(log.String(), 3000))
		}
	})
	url := "http://" + addr + "/v1/models/days:predict"
	good := []byte(`{"instances": ["good day 2"]}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 30 * time.Second}
	post := func(body []byte) (int, time.Duration, error) {
		start := time.Now()
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, time.Since(start), err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, time.Since(start), nil
	}
	if err := Poll(ctx, 50*time.Millisecond, func() bool { code, _, _ := post(good); return code == http.StatusOK }); err != nil {
		t.Fatal("shoal serve never answered")
	}
	rss0, err := ProcessRSS(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}

	// One client's latencies, alone, for p99.
	latencies := func(d time.Duration) (p50, p99 time.Duration, n int) {
		var ls []time.Duration
		for end := time.Now().Add(d); time.Now().Before(end); {
			code, l, err := post(good)
			if err != nil || code != http.StatusOK {
				t.Errorf("the measured client got %d, %v", code, err)
				return
			}
			ls = append(ls, l)
		}
		slices.Sort(ls)
		return ls[len(ls)/2], ls[len(ls)*99/100], len(ls)
	}
	qp50, qp99, qn := latencies(3 * time.Second)
	r.add(t, "quiet: one client, %d queries in 3s, p50 %v, p99 %v", qn, qp50.Round(time.Microsecond), qp99.Round(time.Microsecond))

	// The flood: 10× the in-flight capacity, each client asking again as
	// soon as it is answered.
	flooders := 10 * (serveQueue + serveBatch)
	codes := map[int]int{}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	end := time.Now().Add(3 * time.Second)
	for range flooders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				code, _, err := post(good)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					codes[code]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rss1, _ := ProcessRSS(cmd.Process.Pid)
	total := 0
	for _, n := range codes {
		total += n
	}
	r.add(t, "flood: %d clients (10× queue %d + batch %d) for 3s: %d answers, %d × 200, %d × 429, %d other, %d transport errors; RSS %.0f → %.0f MiB",
		flooders, serveQueue, serveBatch, total, codes[200], codes[429], total-codes[200]-codes[429], len(errs), float64(rss0)/(1<<20), float64(rss1)/(1<<20))
	if codes[429] == 0 {
		t.Error("no 429 under a flood at 10× the in-flight capacity")
	}
	if other := total - codes[200] - codes[429]; other > 0 || len(errs) > 0 {
		t.Errorf("under the flood: statuses %v and %d transport errors (first: %v)", codes, len(errs), firstErr(errs))
	}
	select {
	case <-exited:
		t.Fatalf("shoal serve died under the flood:\n%s", tail(log.String(), 2000))
	default:
	}

	// Malformed requests from 4 clients while the measured one asks.
	bad := [][]byte{
		[]byte(`{"instances": [`),
		[]byte(`{"instances": [1, 2, 3]}`),
		[]byte(`{"inputs": {"x": "y"}, "instances": ["a"]}`),
		[]byte(`not json at all`),
		bytes.Repeat([]byte("a"), 17<<20),
	}
	badCodes := map[int]int{}
	stop := make(chan struct{})
	for k := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				code, _, err := post(bad[i%len(bad)])
				mu.Lock()
				if err == nil {
					badCodes[code]++
				}
				mu.Unlock()
			}
		}()
	}
	lp50, lp99, ln := latencies(3 * time.Second)
	close(stop)
	wg.Wait()
	rss2, _ := ProcessRSS(cmd.Process.Pid)
	r.add(t, "malformed flood (4 clients: truncated, wrong types, wrong fields, not JSON, 17 MiB): statuses %v; measured client %d queries, p50 %v, p99 %v (%.2f× quiet); RSS %.0f MiB",
		badCodes, ln, lp50.Round(time.Microsecond), lp99.Round(time.Microsecond), float64(lp99)/float64(qp99), float64(rss2)/(1<<20))
	for code := range badCodes {
		if code < 400 || code >= 500 {
			t.Errorf("a malformed request got %d", code)
		}
	}
	// Issue 16 wants the p99 within 2×. On this machine the flooding
	// clients share the server's cores and every connection gets an equal
	// share of the server, so the measured client waits behind them; a
	// finding, not a failure, until the server favours well-behaved
	// clients.
	if lp99 > 2*qp99 {
		r.finding(t, "the measured client's p99 went from %v to %v under the malformed flood (%.1f×, goal ≤ 2×)", qp99.Round(time.Microsecond), lp99.Round(time.Microsecond), float64(lp99)/float64(qp99))
	}
	if g := float64(max(rss1, rss2)-rss0) / (1 << 20); g > maxRSSGrowthMiB {
		t.Errorf("shoal serve grew by %.0f MiB (bound %d)", g, maxRSSGrowthMiB)
	}
}

func firstErr(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w", errs[0])
}
