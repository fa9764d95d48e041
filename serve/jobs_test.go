package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

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

// answeringJobs is a JobManager that holds jobs for an answer and
// begins submissions (the optional JobStarter and JobAnswerer).
type answeringJobs struct {
	stubJobs
	pending map[string]bool
	begun   int
}

func (a *answeringJobs) Begin(spec job.Spec) (job.Spec, error) {
	a.begun++
	spec.Fill()
	spec.ID = "0123456789abcdef"
	return spec, nil
}

func (a *answeringJobs) Accept(id string) error { return a.answer(id) }

func (a *answeringJobs) Decline(id string) error { return a.answer(id) }

func (a *answeringJobs) answer(id string) error {
	switch {
	case id == "busybusybusybusy":
		return fmt.Errorf("%w: 4 jobs already run here", job.ErrRefused)
	case id == "brokenbrokenbrok":
		return errors.New("disk full")
	case a.pending[id]:
		delete(a.pending, id)
		return nil
	case id == "feedfeedfeedfeed":
		return fmt.Errorf("job %s: %w: it is declined", id, job.ErrNotPending)
	}
	return fmt.Errorf("job %s: %w", id, job.ErrUnknownJob)
}

func (a *answeringJobs) Jobs() []job.Info {
	var out []job.Info
	for id := range a.pending {
		out = append(out, job.Info{Spec: job.Spec{ID: id}, State: job.StatePending})
	}
	return append(out, job.Info{Spec: job.Spec{ID: "runningrunningru"}, State: job.StateTraining})
}

func request(t *testing.T, h http.Handler, method, path, token string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// TestAnswerRoutes: accept and decline answer a pending job (200 with its
// new state) and only that: a job not pending or refused now is a
// conflict, an unknown one not found, a manager that holds no jobs 501,
// and without the token nothing. ?state=pending lists the pending ones.
func TestAnswerRoutes(t *testing.T) {
	m := &answeringJobs{pending: map[string]bool{"aaaaaaaaaaaaaaaa": true, "bbbbbbbbbbbbbbbb": true}}
	h := jobsTestHandler(m)
	code, body := request(t, h, http.MethodGet, controlapi.PathJobs+"?state=pending", "tok")
	if code != 200 || strings.Count(body, `"state":"pending"`) != 2 || strings.Contains(body, "runningrunningru") {
		t.Errorf("pending list: %d %s", code, body)
	}
	if code, _ := request(t, h, http.MethodPost, controlapi.JobPath("aaaaaaaaaaaaaaaa", "accept"), ""); code != http.StatusUnauthorized {
		t.Errorf("accept without the token: %d", code)
	}
	for _, c := range []struct {
		id, answer string
		code       int
		want       string
	}{
		{"aaaaaaaaaaaaaaaa", "accept", 200, `"state":"joined"`},
		{"bbbbbbbbbbbbbbbb", "decline", 200, `"state":"declined"`},
		{"aaaaaaaaaaaaaaaa", "decline", 404, "unknown"},
		{"feedfeedfeedfeed", "accept", 409, "declined"},
		{"busybusybusybusy", "accept", 409, "4 jobs"},
		{"brokenbrokenbrok", "decline", 500, "disk full"},
	} {
		code, body := request(t, h, http.MethodPost, controlapi.JobPath(c.id, c.answer), "tok")
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: %d %s, want %d with %q", c.answer, c.id, code, body, c.code, c.want)
		}
	}
	if code, _ := request(t, jobsTestHandler(&stubJobs{}), http.MethodPost, controlapi.JobPath("aaaaaaaaaaaaaaaa", "accept"), "tok"); code != http.StatusNotImplemented {
		t.Errorf("accept on a manager that holds no jobs: %d", code)
	}
	// A starter's submission is answered 202 at once.
	code, body = postJob(t, h, "", `{"model":"seed-text","data":"/x/days.tsv"}`)
	if code != http.StatusAccepted || m.begun != 1 || !strings.Contains(body, "0123456789abcdef") {
		t.Errorf("submission to a starter: %d %s (begun %d)", code, body, m.begun)
	}
}
