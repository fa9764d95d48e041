//go:build soak

package fault

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/engine/modelfile"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// startCluster starts a cluster for t, closed (namespaces removed) when t
// ends however it ends; it waits for the peers to see each other.
func startCluster(t *testing.T, r *row, opts Options) *Cluster {
	t.Helper()
	opts.Bin = shoalBin
	// SOAK_LOOPBACK=1 runs on 127.0.0.1 even as root, to try the fallback.
	opts.Loopback = opts.Loopback || os.Getenv("SOAK_LOOPBACK") != ""
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Logf == nil {
		opts.Logf = func(f string, a ...any) { t.Logf("fault: "+f, a...) }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := Start(ctx, opts)
	if c != nil {
		t.Cleanup(func() {
			var warn, errs, limit, panics int
			for _, p := range c.Peers() {
				l := p.Log()
				warn += strings.Count(l, "level=WARN")
				errs += strings.Count(l, "level=ERROR")
				limit += strings.Count(l, "resource limit exceeded")
				panics += strings.Count(l, "panic:")
			}
			r.add(t, "peer logs: %d WARN, %d ERROR, %d resource-limit, %d panic lines", warn, errs, limit, panics)
			if panics > 0 {
				t.Errorf("a peer panicked")
			}
			if t.Failed() {
				for _, p := range c.Peers() {
					t.Logf("--- %s log (last 3000 bytes):\n%s", p.Name, tail(p.Log(), 3000))
				}
			}
			if err := c.Close(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	mode, why := c.Mode()
	r.mode = string(mode)
	if mode == ModeLoopback {
		t.Logf("namespaces unavailable (%s): peers run on 127.0.0.1 with the proxy only", why)
	}
	took, err := c.WaitConverged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d peers started and saw each other in %v (mesh %v)", opts.N, time.Since(start).Round(100*time.Millisecond), took.Round(100*time.Millisecond))
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// jobData is the data set and flags of a scenario's job.
type jobData struct {
	desc string
	args []string
}

// daysJob is DaysTSV (two classes of short texts) with rows rows and
// enough epochs that training runs for a while on 2 cores. DaysTSV repeats
// itself every 70 rows and a job refuses data whose shards coincide
// ("shard … listed twice"), so the shards are 31 rows (coprime to 70):
// all distinct up to 2170 rows.
func daysJob(t *testing.T, rows, epochs, peers int) jobData {
	path := datatest.DaysTSV(t, rows)
	return jobData{desc: fmt.Sprintf("DaysTSV %d rows, seed-text, %d epochs", rows, epochs),
		args: []string{"--model", "seed-text", "--data", path, "--holdout", "0.2", "--epochs", strconv.Itoa(epochs),
			"--batch", "16", "--lr", "0.01", "--local-steps", "4", "--shard-rows", "31", "--seed", "5",
			"--min-peers", strconv.Itoa(peers)}}
}

// mnistJob is the first train rows and test rows of MNIST (SHOAL_MNIST),
// written as a folder of IDX files, with the mlp preset; ok is false
// where SHOAL_MNIST is not set.
func mnistJob(t *testing.T, train, test, epochs, peers int) (jobData, bool) {
	src := os.Getenv("SHOAL_MNIST")
	if src == "" {
		return jobData{}, false
	}
	dir := t.TempDir()
	for _, f := range []struct {
		name string
		n    int
	}{{"train-images-idx3-ubyte.gz", train}, {"train-labels-idx1-ubyte.gz", train},
		{"t10k-images-idx3-ubyte.gz", test}, {"t10k-labels-idx1-ubyte.gz", test}} {
		if err := sliceIDX(filepath.Join(src, f.name), filepath.Join(dir, f.name), f.n); err != nil {
			t.Fatalf("MNIST slice: %v", err)
		}
	}
	return jobData{desc: fmt.Sprintf("MNIST %d train / %d test rows, mlp, %d epochs", train, test, epochs),
		args: []string{"--model", "mlp", "--data", dir, "--epochs", strconv.Itoa(epochs), "--batch", "64",
			"--local-steps", "10", "--shard-rows", "500", "--seed", "5", "--min-peers", strconv.Itoa(peers)}}, true
}

// sliceIDX copies the first n items of a gzipped IDX file.
func sliceIDX(src, dst string, n int) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	var magic [4]byte
	if _, err := io.ReadFull(zr, magic[:]); err != nil {
		return err
	}
	dims := int(magic[3])
	shape := make([]uint32, dims)
	if err := binary.Read(zr, binary.BigEndian, shape); err != nil {
		return err
	}
	if int(shape[0]) < n {
		return fmt.Errorf("%s holds %d items, %d asked", src, shape[0], n)
	}
	item := 1
	for _, d := range shape[1:] {
		item *= int(d)
	}
	shape[0] = uint32(n)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(magic[:])
	binary.Write(zw, binary.BigEndian, shape)
	if _, err := io.CopyN(zw, zr, int64(n*item)); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(dst, out.Bytes(), 0o644)
}

// submit submits a job to peer i with `shoal job submit --json` (no
// --wait: the scenarios follow it themselves) and returns its id.
func submit(ctx context.Context, t *testing.T, c *Cluster, i int, name string, d jobData) string {
	t.Helper()
	out, err := c.CLI(ctx, i, append([]string{"job", "submit", "--name", name, "--json"}, d.args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var spec controlapi.JobSpec
	if err := json.Unmarshal([]byte(lastLine(string(out))), &spec); err != nil || spec.ID == "" {
		t.Fatalf("job submit --json: %v\n%s", err, out)
	}
	return spec.ID
}

// submitWait is `shoal job submit --wait --json` on peer i: it returns the
// job as it ended there.
func submitWait(ctx context.Context, t *testing.T, c *Cluster, i int, name string, d jobData) controlapi.Job {
	t.Helper()
	out, err := c.CLI(ctx, i, append([]string{"job", "submit", "--name", name, "--wait", "--json"}, d.args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var j controlapi.Job
	if err := json.Unmarshal([]byte(lastLine(string(out))), &j); err != nil {
		t.Fatalf("job submit --wait --json: %v\n%s", err, out)
	}
	return j
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// waitEnded waits until job id has ended on every peer of peers (by
// `shoal jobs --json`) and returns each one's view.
func waitEnded(ctx context.Context, t *testing.T, c *Cluster, id string, peers []int) map[int]controlapi.Job {
	t.Helper()
	out := map[int]controlapi.Job{}
	for _, i := range peers {
		err := Poll(ctx, 500*time.Millisecond, func() bool {
			j, ok := c.Job(ctx, i, id)
			return ok && controlapi.JobEnded(j.State)
		})
		if err != nil {
			j, _ := c.Job(ctx, i, id)
			t.Fatalf("job %s never ended on %s (state %q, step %d/%d): %v", id[:8], c.Peer(i).Name, j.State, j.Step, j.Steps, err)
		}
		jobs, err := c.Jobs(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.ID == id {
				out[i] = j
			}
		}
	}
	return out
}

// sameModel checks that every view is done with one model hash and
// returns it.
func sameModel(t *testing.T, c *Cluster, views map[int]controlapi.Job) string {
	t.Helper()
	hash := ""
	for i, j := range views {
		if j.State != controlapi.JobDone {
			t.Errorf("%s: job ended %s: %s", c.Peer(i).Name, j.State, j.Error)
			continue
		}
		if hash == "" {
			hash = j.ModelHash
		}
		if j.ModelHash != hash {
			t.Errorf("%s ended with model %.12s, another with %.12s", c.Peer(i).Name, j.ModelHash, hash)
		}
	}
	return hash
}

// shardCensus reads job id's manifest from a peer's data dir and counts,
// over the peers given, how many verified copies of each shard exist.
// It returns the number of shards, the least copies any shard has, and the
// shards with none.
func shardCensus(t *testing.T, c *Cluster, id string, peers []int) (total, least int, missing []string) {
	t.Helper()
	var ann struct {
		Manifest struct {
			Shards []struct {
				ID string `json:"id"`
			} `json:"shards"`
		} `json:"manifest"`
	}
	b, err := os.ReadFile(filepath.Join(c.Peer(0).DataDir, "jobs", id, "job.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ann); err != nil {
		t.Fatal(err)
	}
	least = -1
	for _, s := range ann.Manifest.Shards {
		n := 0
		for _, i := range peers {
			data, err := os.ReadFile(filepath.Join(c.Peer(i).DataDir, "shards", s.ID))
			if err != nil {
				continue
			}
			if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) == s.ID {
				n++
			}
		}
		if n == 0 {
			missing = append(missing, s.ID[:12])
		}
		if least < 0 || n < least {
			least = n
		}
	}
	return len(ann.Manifest.Shards), least, missing
}

// storeCheck opens a peer's model store and checks every version of name:
// it decodes (the file's own content hash checked) and its SHA-256 is
// want. It returns the versions and the problems found.
func storeCheck(p *Peer, name, want string) (versions []int, problems []string) {
	st, err := modelstore.Open(filepath.Join(p.DataDir, "models"))
	if err != nil {
		return nil, []string{err.Error()}
	}
	vs, err := st.Versions(name)
	if errors.Is(err, modelstore.ErrNotFound) {
		return nil, nil // killed before its first write: nothing, which is fine
	}
	if err != nil {
		return nil, []string{err.Error()}
	}
	for _, v := range vs {
		path, err := st.Path(name, v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("v%d: %v", v, err))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("v%d: %v", v, err))
			continue
		}
		if _, err := modelfile.Decode(b); err != nil {
			problems = append(problems, fmt.Sprintf("v%d does not decode: %v", v, err))
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
			problems = append(problems, fmt.Sprintf("v%d hashes to %.12s, the job's model is %.12s", v, hex.EncodeToString(sum[:]), want))
		}
	}
	// Nothing half-written beside the versions (temporary files of a
	// publish that was cut short).
	ents, _ := os.ReadDir(filepath.Join(p.DataDir, "models", name))
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil && e.Name() != modelstore.LabelsFile {
			problems = append(problems, "stray entry "+e.Name())
		}
	}
	return vs, problems
}

// indexes returns 0..n-1 without skip.
func indexes(n int, skip ...int) []int {
	var out []int
outer:
	for i := range n {
		for _, s := range skip {
			if i == s {
				continue outer
			}
		}
		out = append(out, i)
	}
	return out
}
