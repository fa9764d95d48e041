package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/train"
	"github.com/shoalmesh/shoal/mesh/job"
)

// demoSummary is `shoal demo --json`'s line; fields may be added, never
// removed.
type demoSummary struct {
	Job    string     `json:"job"`
	Model  string     `json:"model"`  // preset
	Name   string     `json:"name"`   // the name it is served under
	Data   string     `json:"data"`   // absolute path
	Epochs int        `json:"epochs"` // of the whole data set
	MeshID string     `json:"mesh_id"`
	Peers  []demoPeer `json:"peers"`
	// AccuracyMin and AccuracyMean are over the peers' final models, on
	// the test set (MNIST's t10k files, a text file's last rows).
	AccuracyMin        float64   `json:"accuracy_min"`
	AccuracyMean       float64   `json:"accuracy_mean"`
	ModelHash          string    `json:"model_hash"`
	ModelHashAgreement bool      `json:"model_hash_agreement"`
	ModelBytes         int64     `json:"model_bytes"`
	BytesSent          int64     `json:"bytes_sent"` // all peers together, the job's whole life
	BytesRecv          int64     `json:"bytes_recv"`
	Query              demoQuery `json:"query"`
	// TrainSeconds runs from the submission to the last peer's end;
	// Seconds is the whole demo, MNIST and start-up included.
	TrainSeconds float64 `json:"train_seconds"`
	Seconds      float64 `json:"seconds"`
	Dir          string  `json:"dir"`  // the nodes' data dirs (gone unless kept)
	Kept         bool    `json:"kept"` // --keep
}

// demoPeer is one node of the demo and how the job ended on it.
type demoPeer struct {
	Name      string  `json:"name"`
	ID        string  `json:"id"`
	API       string  `json:"api"`   // control API, host:port
	Serve     string  `json:"serve"` // model server, host:port
	Accuracy  float64 `json:"accuracy"`
	ModelHash string  `json:"model_hash"`
	BytesSent int64   `json:"bytes_sent"`
	BytesRecv int64   `json:"bytes_recv"`
	Rounds    int     `json:"averaging_rounds"`
}

// demoQuery is the one query the demo sends, and its answer.
type demoQuery struct {
	AskedPeer string `json:"asked_peer"` // the node whose model server was asked
	URL       string `json:"url"`
	Input     string `json:"input"` // what was sent, in words
	Expected  string `json:"expected"`
	queryAnswer
	Correct bool `json:"correct"`
	// ServedBy is the peer id that answered, ServedByName its name;
	// Forwarded says the query crossed the mesh to get there.
	ServedBy     string `json:"served_by"`
	ServedByName string `json:"served_by_name"`
	Forwarded    bool   `json:"forwarded"`
}

// demoRouteTimeout bounds the wait for node 0 to learn, from heartbeats,
// that the other peers serve the model (a heartbeat is a second here).
const demoRouteTimeout = 20 * time.Second

// finish follows the job to its end on every peer, checks the models,
// routes a query across the mesh and returns the summary. With show, node
// 0's progress is drawn as it comes.
func (d *demoRun) finish(ctx context.Context, show bool) (*demoSummary, error) {
	submitted := time.Now()
	progress := d.ui.job
	if !show {
		progress = nil
	}
	if _, err := d.net.Client(0).WaitJob(ctx, d.spec.ID, progress); err != nil {
		d.ui.done()
		return nil, err
	}
	d.ui.done()
	results := make([]*job.Result, d.net.Len())
	for i := range results {
		res, err := d.net.Jobs(i).Wait(ctx, d.spec.ID)
		if err != nil {
			return nil, fmt.Errorf("node-%d: %w", i, err)
		}
		results[i] = res
	}
	sum := &demoSummary{
		Job: d.spec.ID, Model: d.spec.Model, Name: d.spec.Name, Data: d.spec.Data, Epochs: d.spec.Epochs,
		MeshID:       d.net.Node(0).MeshID(),
		TrainSeconds: round(time.Since(submitted).Seconds(), 2),
	}
	d.ui.line(fmt.Sprintf("every peer ended the job after %.1f s; checking their models on the test set", sum.TrainSeconds))

	prepared, err := train.PrepareData(train.DataOptions{Path: d.spec.Data, Holdout: d.spec.Holdout})
	if err != nil {
		return nil, err
	}
	test := prepared.Test
	if test == nil {
		test = prepared.Train
	}
	hashes := map[string]bool{}
	var accs []float64
	for i, res := range results {
		a, err := artifact.Load(res.ModelPath)
		if err != nil {
			return nil, fmt.Errorf("node-%d's model: %w", i, err)
		}
		met, err := train.Evaluate(a.Model, test, 0)
		if err != nil {
			return nil, fmt.Errorf("node-%d's model: %w", i, err)
		}
		accs = append(accs, met.Accuracy)
		hashes[res.ModelHash] = true
		sum.Peers = append(sum.Peers, demoPeer{
			Name: fmt.Sprintf("node-%d", i), ID: d.net.ID(i).String(), API: d.net.APIAddr(i), Serve: d.net.ServeAddr(i),
			Accuracy: round(met.Accuracy, 4), ModelHash: res.ModelHash, BytesSent: res.BytesSent, BytesRecv: res.BytesRecv,
			Rounds: res.Rounds,
		})
		sum.BytesSent += res.BytesSent
		sum.BytesRecv += res.BytesRecv
		sum.ModelHash, sum.ModelBytes = res.ModelHash, res.ModelBytes
	}
	sum.AccuracyMin = round(slices.Min(accs), 4)
	for _, a := range accs {
		sum.AccuracyMean += a / float64(len(accs))
	}
	sum.AccuracyMean = round(sum.AccuracyMean, 4)
	sum.ModelHashAgreement = len(hashes) == 1

	q, err := d.query(ctx, test)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	sum.Query = q
	return sum, nil
}

// query sends one held-out sample to node 0's model server. With more
// than one peer, node 0 first gives up its own copy of the model, so the
// query has to cross the mesh (over the infer protocol) to a peer that
// serves it, as one to a machine without the model would.
func (d *demoRun) query(ctx context.Context, test *data.Dataset) (demoQuery, error) {
	name := d.spec.Name
	q := demoQuery{AskedPeer: "node-0"}
	k := demoSample(test)
	q.Expected = test.Labels[int(test.Y[k])]
	var raw string
	if test.Texts != nil {
		raw, q.Input = test.Texts[k], fmt.Sprintf("held-out message %d: %q", k, test.Texts[k])
	} else {
		ss := test.SampleSize()
		b, err := json.Marshal(test.X[k*ss : (k+1)*ss])
		if err != nil {
			return q, err
		}
		raw, q.Input = string(b), fmt.Sprintf("MNIST test image %d", k)
	}
	if d.net.Len() > 1 {
		if err := d.handOver(ctx, name); err != nil {
			return q, err
		}
	}
	f := queryFlags{http: d.net.ServeAddr(0), timeout: 30 * time.Second}
	u, err := queryURL(f.http, name, 0, "")
	if err != nil {
		return q, err
	}
	q.URL = u
	out, err := runQuery(ctx, f, name, []string{raw})
	if err != nil {
		return q, err
	}
	q.queryAnswer = out.Predictions[0]
	q.queryAnswer.Input = "" // said in words above
	q.Correct = q.Label == q.Expected
	q.ServedBy, q.ServedByName = out.ServedBy, "node-0"
	if out.ServedBy == "local" {
		q.ServedBy = d.net.ID(0).String()
	}
	for i := range d.net.Len() {
		if d.net.ID(i).String() == q.ServedBy {
			q.ServedByName = fmt.Sprintf("node-%d", i)
		}
	}
	q.Forwarded = q.ServedByName != "node-0"
	how := "itself"
	if q.Forwarded {
		how = "over the mesh"
	}
	d.ui.line(fmt.Sprintf("query: %s to node-0's model server: %s (%.1f%%), served by %s %s",
		q.Input, q.Label, 100*q.Probability, q.ServedByName, how))
	return q, nil
}

// demoSample picks the test sample the demo queries: for a text model the
// first spam message (a more telling answer than the first "ham"), else
// the first sample.
func demoSample(test *data.Dataset) int {
	if test.Texts != nil {
		if c := slices.Index(test.Labels, "spam"); c >= 0 {
			for i, y := range test.Y {
				if int(y) == c {
					return i
				}
			}
		}
	}
	return 0
}

// handOver removes every version of name from node 0's store and waits
// until node 0 no longer serves it itself and has heard another peer
// announce it.
func (d *demoRun) handOver(ctx context.Context, name string) error {
	p := d.net.Peer(0)
	if err := p.Models().Remove(name, 0); err != nil {
		return fmt.Errorf("node-0 giving up its copy: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, demoRouteTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := p.Catalog().Lookup(name, 0, ""); err != nil {
			for _, peer := range p.Mesh().Peers() {
				for _, s := range peer.Served {
					if s.Name == name && len(s.Versions) > 0 {
						d.ui.line(fmt.Sprintf("node-0 gave up its copy of %q; %s serves it", name, peer.Name))
						return nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("node-0 heard no peer announce %q within %v", name, demoRouteTimeout)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// writeDemoSummary prints the summary for people.
func writeDemoSummary(w io.Writer, s *demoSummary) {
	fmt.Fprintf(w, "\njob %s: %s on %s, %s, %d peers, %.1f s training, %.1f s in all\n",
		s.Job, s.Model, s.Data, plural(s.Epochs, "epoch"), len(s.Peers), s.TrainSeconds, s.Seconds)
	fmt.Fprintf(w, "%-8s %-14s %9s %10s %10s  %s\n", "peer", "id", "accuracy", "sent", "received", "model sha-256")
	for _, p := range s.Peers {
		fmt.Fprintf(w, "%-8s %-14s %8.2f%% %10s %10s  %s\n", p.Name, "…"+tail(p.ID, 12), 100*p.Accuracy,
			humanBytes(p.BytesSent), humanBytes(p.BytesRecv), p.ModelHash[:min(16, len(p.ModelHash))])
	}
	agree := "yes: every peer holds the same model"
	if !s.ModelHashAgreement {
		agree = "NO: the peers' models differ"
	}
	fmt.Fprintf(w, "models agree: %s (%s, %s)\n", agree, s.ModelHash, humanBytes(s.ModelBytes))
	fmt.Fprintf(w, "bytes sent: %s by all peers together\n", humanBytes(s.BytesSent))
	q := s.Query
	how := "itself"
	if q.Forwarded {
		how = "over the mesh, for " + q.AskedPeer
	}
	fmt.Fprintf(w, "query: %s (expected %s) -> %s at %.1f%%, served by %s (%s) %s\n",
		q.Input, q.Expected, q.Label, 100*q.Probability, q.ServedByName, "…"+tail(q.ServedBy, 12), how)
}

// tail returns the last n bytes of s (all of it when shorter).
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// humanBytes writes n in B, kB, MB or GB (powers of 1000).
func humanBytes(n int64) string {
	f := float64(n)
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", f/1e3)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", f/1e6)
	}
	return fmt.Sprintf("%.2f GB", f/1e9)
}
