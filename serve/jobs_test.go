package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/testnet"
)

// writeDaysTSV writes n rows of two easily told classes ("good …" and
// "bad …" days) in a fixed order, so the same seed gives the same job.
func writeDaysTSV(t testing.TB, n int) string {
	t.Helper()
	good := []string{"good day", "great day", "happy sunny day", "a good good morning", "nice and good"}
	bad := []string{"bad day", "awful day", "sad rainy day", "a bad bad morning", "terrible and bad"}
	var b strings.Builder
	for i := range n {
		if i%2 == 0 {
			fmt.Fprintf(&b, "good\t%s %d\n", good[i/2%len(good)], i%7)
		} else {
			fmt.Fprintf(&b, "bad\t%s %d\n", bad[i/2%len(bad)], i%7)
		}
	}
	path := filepath.Join(t.TempDir(), "days.tsv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// stubJobs is a JobManager that records submissions and never runs them.
type stubJobs struct {
	submitted []job.Spec
	err       error
	events    chan job.Event
}

func (s *stubJobs) Submit(_ context.Context, spec job.Spec) (job.Spec, error) {
	if s.err != nil {
		return spec, s.err
	}
	spec.Fill()
	spec.ID = "0123456789abcdef"
	s.submitted = append(s.submitted, spec)
	return spec, nil
}

func (s *stubJobs) Jobs() []job.Info { return nil }

func (s *stubJobs) Outcome(string) (*job.Result, bool, error) { return nil, false, nil }

func (s *stubJobs) Subscribe() (<-chan job.Event, func()) {
	if s.events != nil {
		return s.events, func() {}
	}
	return make(chan job.Event), func() {}
}

// jobsTestNode is a Node with no peers whose event channel the test drives.
type jobsTestNode struct{ ch chan controlapi.Event }

func (n jobsTestNode) Self() controlapi.Peer    { return controlapi.Peer{ID: "self"} }
func (n jobsTestNode) Peers() []controlapi.Peer { return nil }
func (n jobsTestNode) Subscribe() (<-chan controlapi.Event, func()) {
	return n.ch, func() {}
}

func jobsTestHandler(m JobManager) http.Handler {
	h := NewControlHandler(jobsTestNode{ch: make(chan controlapi.Event)}, "tok")
	for p, hd := range JobRoutes(m) {
		h.Handle(p, hd)
	}
	return h
}

func postJob(t *testing.T, h http.Handler, contentType, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, controlapi.PathJobs, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestSubmitRejectsBadBodies(t *testing.T) {
	stub := &stubJobs{}
	h := jobsTestHandler(stub)
	huge := `{"model":"mlp","data":"/d","name":"` + strings.Repeat("a", MaxJobSpecBytes) + `"}`
	cases := []struct {
		name, ct, body string
		status         int
		want           string // in the error message
	}{
		{"empty", "application/json", "", 400, "empty"},
		{"not json", "application/json", "model=mlp", 400, "malformed JSON"},
		{"truncated", "application/json", `{"model":"mlp"`, 400, "truncated"},
		{"array", "application/json", `[1,2]`, 400, "want"},
		{"trailing", "application/json", `{"model":"mlp","data":"/d"} {}`, 400, "trailing"},
		{"unknown field", "application/json", `{"model":"mlp","data":"/d","epoch":3}`, 400, "epoch"},
		{"wrong type", "application/json", `{"model":"mlp","data":"/d","epochs":"3"}`, 400, "epochs"},
		{"negative seed", "application/json", `{"model":"mlp","data":"/d","seed":-1}`, 400, "seed"},
		{"no model", "application/json", `{"data":"/d"}`, 400, "no model"},
		{"no data", "application/json", `{"model":"mlp"}`, 400, "no data path"},
		{"relative data", "application/json", `{"model":"mlp","data":"days.tsv"}`, 400, "absolute"},
		{"bad compress", "application/json", `{"model":"mlp","data":"/d","compress":"zip"}`, 400, "compress"},
		{"bad robust", "application/json", `{"model":"mlp","data":"/d","robust":"median"}`, 400, "robust"},
		{"holdout 1", "application/json", `{"model":"mlp","data":"/d","holdout":1}`, 400, "holdout"},
		{"too many epochs", "application/json", `{"model":"mlp","data":"/d","epochs":100000}`, 400, "epochs"},
		{"negative lr", "application/json", `{"model":"mlp","data":"/d","lr":-1}`, 400, "learning rate"},
		{"bad name", "application/json", `{"model":"mlp","data":"/d","name":"../x"}`, 400, "name"},
		{"two errors on one line", "application/json", `{"model":"mlp","data":"/d","epochs":-1,"lr":-1}`, 400, "; "},
		{"too large", "application/json", huge, 413, "too large"},
		{"wrong content type", "text/plain", `{"model":"mlp","data":"/d"}`, 415, "content type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := postJob(t, h, c.ct, c.body)
			if code != c.status {
				t.Errorf("status %d, want %d (body %s)", code, c.status, body)
			}
			var er controlapi.ErrorResponse
			if err := controlapi.DecodeJSON(strings.NewReader(body), 1<<20, &er); err != nil || !strings.Contains(er.Error, c.want) {
				t.Errorf("error %q (decode: %v), want it to mention %q", er.Error, err, c.want)
			}
			if strings.Contains(er.Error, "\n") {
				t.Errorf("error spans lines: %q", er.Error)
			}
		})
	}
	if len(stub.submitted) != 0 {
		t.Errorf("%d bad specs reached the manager", len(stub.submitted))
	}
}

func TestSubmitGoodBodyAndManagerError(t *testing.T) {
	stub := &stubJobs{}
	h := jobsTestHandler(stub)
	code, body := postJob(t, h, "", `{"model":"seed-text","data":"/x/days.tsv","id":"ffffffffffffffff","submitter":"me","created":5}`)
	if code != http.StatusCreated {
		t.Fatalf("status %d: %s", code, body)
	}
	if len(stub.submitted) != 1 || stub.submitted[0].Submitter != "" || stub.submitted[0].Created != 0 {
		t.Fatalf("submitted %+v: node-set fields must be cleared", stub.submitted)
	}
	var got controlapi.JobSpec
	if err := controlapi.DecodeJSON(strings.NewReader(body), 1<<20, &got); err != nil || got.ID != "0123456789abcdef" || got.Epochs != 1 || got.Name != "seed-text" {
		t.Errorf("answer %+v, %v", got, err)
	}

	stub.err = errors.New("--data: /x/days.tsv: no such file or folder")
	code, body = postJob(t, h, "application/json", `{"model":"seed-text","data":"/x/days.tsv"}`)
	if code != http.StatusBadRequest || !strings.Contains(body, "no such file") {
		t.Errorf("manager error: %d %s", code, body)
	}
}

func TestGetUnknownJob(t *testing.T) {
	h := jobsTestHandler(&stubJobs{})
	for _, path := range []string{controlapi.PathJobs, controlapi.PathJobs + "/0123456789abcdef"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch path {
		case controlapi.PathJobs:
			if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"jobs":[]}` {
				t.Errorf("empty list: %d %s", rec.Code, rec.Body)
			}
		default:
			if rec.Code != 404 || !strings.Contains(rec.Body.String(), "no job") {
				t.Errorf("unknown job: %d %s", rec.Code, rec.Body)
			}
		}
	}
	// Without the token the job routes are as closed as the rest.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, controlapi.PathJobs, nil))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("no token: %d", rec.Code)
	}
}

func TestJobToAPINonFinite(t *testing.T) {
	nan := func() float64 { var z float64; return z / z }()
	in := job.Info{Spec: job.Spec{ID: "0123456789abcdef", Model: "mlp", Epochs: 2}, State: job.StateTraining,
		Self:    job.Status{State: job.StateTraining, Loss: nan, Accuracy: 0.5},
		Members: map[string]job.Status{"b": {Peer: "b"}, "a": {Peer: "a"}}}
	j := jobToAPI(in)
	if j.Loss != 0 || j.Accuracy != 0.5 || j.Members != 3 || len(j.Peers) != 2 || j.Peers[0].Peer != "a" {
		t.Errorf("jobToAPI = %+v", j)
	}
}

// TestWithJobEventsMerge: job events join peer events; the end of the job
// manager's stream leaves peer events flowing; the end of the node's ends
// the merged stream.
func TestWithJobEventsMerge(t *testing.T) {
	node := jobsTestNode{ch: make(chan controlapi.Event)}
	jobs := &stubJobs{events: make(chan job.Event)}
	out, cancel := WithJobEvents(node, jobs).Subscribe()
	defer cancel()
	next := func() controlapi.Event {
		t.Helper()
		select {
		case ev, ok := <-out:
			if !ok {
				t.Fatal("merged stream closed early")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return controlapi.Event{}
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	jobs.events <- job.Event{Type: "job_status", Job: "0123456789abcdef", Time: at}
	if ev := next(); ev.Type != controlapi.EventJobStatus || !ev.Time.Equal(at) {
		t.Errorf("job event forwarded as %+v", ev)
	}
	close(jobs.events)
	node.ch <- controlapi.Event{Type: controlapi.EventPeerJoined}
	if ev := next(); ev.Type != controlapi.EventPeerJoined {
		t.Errorf("peer event after the job stream closed: %+v", ev)
	}
	close(node.ch)
	select {
	case _, ok := <-out:
		if ok {
			t.Error("event after the node's stream closed")
		}
	case <-time.After(10 * time.Second):
		t.Error("merged stream still open after the node's closed")
	}
}

func FuzzDecodeJobSpec(f *testing.F) {
	f.Add([]byte(`{"model":"seed-text","data":"/d.tsv","holdout":0.2,"epochs":2}`))
	f.Add([]byte(`{"model_spec":{"layers":[]},"data":"/d"}`))
	f.Add([]byte(`{"model":"mlp","data":"rel","compress":"int8","robust":"clip"}`))
	f.Add([]byte(`{"model":"mlp","data":"/d","lr":1e309}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeJobSpec(b)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		// What passes must be something the manager accepts.
		s.Fill()
		if err := s.Validate(); err != nil {
			t.Errorf("accepted a spec the manager rejects: %v", err)
		}
		if !filepath.IsAbs(s.Data) {
			t.Errorf("accepted relative data path %q", s.Data)
		}
	})
}

// TestJobOverControlAPI runs a tiny text job on two real nodes, submitted
// through the control API of the first, and follows it there to the end.
func TestJobOverControlAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two libp2p nodes and trains a model")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	net2, err := testnet.Start(ctx, 2, testnet.WithHeartbeat(200*time.Millisecond, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { net2.Close() })
	if err := net2.WaitFor(ctx, (*testnet.Net).Converged); err != nil {
		t.Fatalf("nodes never saw each other: %v", err)
	}
	managers := make([]*job.Manager, 2)
	for i := range managers {
		node := net2.Node(i)
		models, err := modelstore.Open(filepath.Join(node.DataPath(), "models"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := job.NewManager(job.Config{Node: node, DataDir: node.DataPath(), Models: models,
			Logger: slog.New(slog.DiscardHandler), StatusTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		managers[i] = m
	}

	apiDir := t.TempDir()
	addrc := make(chan net.Addr, 1)
	srvCtx, stopSrv := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- ListenAndServeControl(srvCtx, WithJobEvents(FromMesh(net2.Node(0)), managers[0]), ControlConfig{
			Addr: "127.0.0.1:0", DataDir: apiDir, Routes: JobRoutes(managers[0]),
			Ready: func(a net.Addr) { addrc <- a },
		})
	}()
	t.Cleanup(func() {
		stopSrv()
		if err := <-served; err != nil {
			t.Errorf("control API: %v", err)
		}
	})
	c, err := controlapi.NewFromDataDir(waitFor(t, addrc, "the control API").String(), apiDir)
	if err != nil {
		t.Fatal(err)
	}

	// Watch the raw stream for job events from before the submission on.
	events, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := c.SubmitJob(ctx, controlapi.JobSpec{
		Model: "seed-text", Data: writeDaysTSV(t, 240), Holdout: 0.2, Epochs: 2, Batch: 16, LR: 0.01,
		LocalSteps: 4, MinPeers: 2, ShardRows: 48, Seed: 7, Name: "days",
	})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if len(spec.ID) != 16 || spec.Submitter != net2.ID(0).String() || spec.Batch != 16 {
		t.Fatalf("submitted spec %+v", spec)
	}
	if _, err := c.SubmitJob(ctx, controlapi.JobSpec{Model: "seed-text", Data: filepath.Join(t.TempDir(), "none.tsv")}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing data file: %v", err)
	}

	seen := map[string]bool{}
	var states []string
	final, err := c.WaitJob(ctx, spec.ID, func(j controlapi.Job) { states = append(states, j.State) })
	if err != nil {
		t.Fatalf("wait: %v (states %v)", err, states)
	}
	if final.State != controlapi.JobDone || final.Result == nil || len(final.ModelHash) != 64 ||
		final.ModelHash != final.Result.ModelHash || final.ModelVersion != 1 || final.Members != 2 {
		t.Fatalf("final job %+v", final)
	}
	t.Logf("job %s done after states %v: accuracy %.3f, distance %.2g, %d rounds, hash %s",
		spec.ID, states, final.Result.ProbeAccuracy, final.Result.ConsensusDistance, final.Result.Rounds, final.ModelHash[:12])

	// The other node ends with the byte-identical model.
	res, err := managers[1].Wait(ctx, spec.ID)
	if err != nil || res.ModelHash != final.ModelHash {
		t.Errorf("node 1: %+v, %v; want hash %s", res, err, final.ModelHash)
	}
	// The published file is what the hash says.
	b, err := os.ReadFile(final.Result.ModelPath)
	if sum := sha256.Sum256(b); err != nil || hex.EncodeToString(sum[:]) != final.ModelHash {
		t.Errorf("model file %s (%v) does not hash to %s", final.Result.ModelPath, err, final.ModelHash)
	}

	// The list and the event stream show the job.
	jobs, err := c.Jobs(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].ID != spec.ID || jobs[0].State != controlapi.JobDone || jobs[0].ModelHash != final.ModelHash {
		t.Errorf("Jobs = %+v, %v", jobs, err)
	}
	for !seen[controlapi.EventJobDone] {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("event stream ended; saw %v", seen)
			}
			seen[ev.Type] = true
		case <-ctx.Done():
			t.Fatalf("no job_done on the event stream; saw %v", seen)
		}
	}
	if !seen[controlapi.EventJobAnnounced] || !seen[controlapi.EventJobStatus] {
		t.Errorf("events seen %v, want job_announced and job_status before job_done", seen)
	}
}

// TestFailedJobOverControlAPI: a job that cannot start (too few peers)
// shows as failed with its reason, and WaitJob returns that reason.
func TestFailedJobOverControlAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a libp2p node")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tn, err := testnet.Start(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tn.Close() })
	node := tn.Node(0)
	models, err := modelstore.Open(filepath.Join(node.DataPath(), "models"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := job.NewManager(job.Config{Node: node, DataDir: node.DataPath(), Models: models, MinPeersWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	h := NewControlHandler(WithJobEvents(FromMesh(node), m), "tok")
	for p, hd := range JobRoutes(m) {
		h.Handle(p, hd)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := controlapi.New(srv.URL, "tok")
	spec, err := c.SubmitJob(ctx, controlapi.JobSpec{Model: "seed-text", Data: writeDaysTSV(t, 40), MinPeers: 2})
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.WaitJob(ctx, spec.ID, nil)
	if err == nil || !strings.Contains(err.Error(), "peers joined") || j.State != controlapi.JobFailed || !strings.Contains(j.Error, "peers joined") {
		t.Fatalf("WaitJob = %+v, %v; want failed for want of peers", j, err)
	}
	if j.Result != nil || j.ModelHash != "" {
		t.Errorf("a failed job has a result: %+v", j)
	}
}
