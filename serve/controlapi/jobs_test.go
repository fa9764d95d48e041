package controlapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSubmitJobErrorsAndAnswer(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		got.Store(r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type") + " " + string(b))
		if strings.Contains(string(b), `"epochs":-1`) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"job spec: epochs -1 outside [1, 1000]"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"0123456789abcdef","model":"mlp","data":"/d","epochs":1,"future_field":true}`)
	}))
	defer srv.Close()
	ctx := context.Background()

	spec, err := New(srv.URL, "tok").SubmitJob(ctx, JobSpec{Model: "mlp", Data: "/d"})
	if err != nil || spec.ID != "0123456789abcdef" || spec.Epochs != 1 {
		t.Fatalf("SubmitJob = %+v, %v", spec, err)
	}
	if s := got.Load().(string); s != `POST /api/v1/jobs application/json {"model":"mlp","data":"/d"}` {
		t.Errorf("request %q: zero fields must be left out so the node fills them", s)
	}
	_, err = New(srv.URL, "tok").SubmitJob(ctx, JobSpec{Model: "mlp", Data: "/d", Epochs: -1})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, "epochs -1") {
		t.Errorf("rejected spec: %v", err)
	}
	if _, err := New(srv.URL, "wrong").SubmitJob(ctx, JobSpec{}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong token: %v", err)
	}
}

func TestJobsNullIsEmpty(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"jobs":null}`)
	}))
	defer srv.Close()
	jobs, err := New(srv.URL, "").Jobs(context.Background())
	if err != nil || jobs == nil || len(jobs) != 0 {
		t.Errorf("Jobs = %#v, %v; want an empty, non-nil slice", jobs, err)
	}
	if _, err := New(srv.URL, "").Job(context.Background(), ""); err == nil {
		t.Error("Job with no id: no error")
	}
}

// TestWaitJobStreamEnds: a node that ends the event stream while the job
// runs gives an error, not a hang.
func TestWaitJobStreamEnds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case PathEvents:
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "event: job_status\ndata: {\"type\":\"job_status\",\"time\":\"2026-01-01T00:00:00Z\"}\n\n")
		case PathJobs + "/0123456789abcdef":
			_, _ = io.WriteString(w, `{"id":"0123456789abcdef","state":"training"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var seen int
	j, err := New(srv.URL, "").WaitJob(ctx, "0123456789abcdef", func(Job) { seen++ })
	if err == nil || !strings.Contains(err.Error(), "event stream ended") || j.State != JobTraining || seen < 2 {
		t.Errorf("WaitJob = %+v, %v (progress calls %d)", j, err, seen)
	}
}
