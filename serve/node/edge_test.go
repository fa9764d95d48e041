package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/train"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/serve/registry"
	"github.com/shoalmesh/shoal/serve/tfserving"
)

// edgeTestImages is how many MNIST test images the edge is asked about.
const edgeTestImages = 200

// trainedMNIST trains the mlp preset briefly on real MNIST (6,000 images,
// one epoch: ~90% test accuracy, enough for int8 and float to be compared
// on real inputs) and returns its float file and the test set.
func trainedMNIST(t *testing.T) (*artifact.Artifact, []byte, *data.Dataset) {
	t.Helper()
	tr, te, err := data.LoadMNIST(datatest.MNIST(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 6000
	sub := &data.Dataset{X: tr.X[:n*784], Y: tr.Y[:n], N: n, SampleShape: tr.SampleShape, Labels: tr.Labels}
	spec, err := nn.Preset("mlp", nn.PresetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := nn.Build(spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := train.Fit(context.Background(), m, sub, nil, train.Config{Epochs: 1, BatchSize: 64, Seed: 1,
		Optimizer: nn.OptimizerConfig{Name: "adam", LR: 1e-3}}); err != nil {
		t.Fatal(err)
	}
	a, err := artifact.New(m, artifact.KindImage, tr.Labels, nil, artifact.Provenance{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return a, b, te
}

// floatModel is an untrained float model file of spec (its size is what
// matters).
func floatModel(t *testing.T, spec nn.Spec) []byte {
	t.Helper()
	m, err := nn.Build(spec, 3)
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]string, m.OutputSize())
	for i := range labels {
		labels[i] = fmt.Sprint(i)
	}
	a, err := artifact.New(m, artifact.KindImage, labels, nil, artifact.Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting until %s", what)
		case <-tick.C:
		}
	}
}

// servedBy reports whether the peer table of n says peer id serves name
// at version, int8 or not as int8 says.
func servedBy(n *Node, id, name string, version int, int8 bool) bool {
	for _, pi := range n.Mesh().Peers() {
		if pi.ID != id || !pi.Alive {
			continue
		}
		for _, sm := range pi.Served {
			if sm.Name == name && len(sm.Versions) > 0 && sm.Versions[0] == version && sm.Int8 == int8 {
				return true
			}
		}
	}
	return false
}

// predictLabels asks c for the labels of images [0, n) of te, in requests
// of 40 images (the control API's body limit is 1 MiB), and returns them
// with the peer that answered ("" the node itself).
func predictLabels(t *testing.T, ctx context.Context, c *controlapi.Client, name string, te *data.Dataset, n int) ([]string, string) {
	t.Helper()
	var labels []string
	servedBy := "?"
	for lo := 0; lo < n; lo += 40 {
		var req controlapi.PredictRequest
		for i := lo; i < min(lo+40, n); i++ {
			b, _ := json.Marshal(te.X[i*784 : (i+1)*784])
			req.Inputs = append(req.Inputs, b)
		}
		res, err := c.PredictModel(ctx, name, req)
		if err != nil {
			t.Fatalf("predict %s: %v", name, err)
		}
		if servedBy != "?" && res.ServedBy != servedBy {
			t.Fatalf("answered by %q, then by %q", servedBy, res.ServedBy)
		}
		servedBy = res.ServedBy
		for _, p := range res.Predictions {
			labels = append(labels, p.Label)
		}
	}
	return labels, servedBy
}

// agreement is the share of equal labels, and the accuracy of got.
func agreement(got, want []string, te *data.Dataset) (agree, acc float64) {
	for i := range got {
		if got[i] == want[i] {
			agree++
		}
		if got[i] == te.Labels[int(te.Y[i])] {
			acc++
		}
	}
	return agree / float64(len(got)), acc / float64(len(got))
}

// TestEdgePeerServesInt8 is issue 13's edge check with real libp2p hosts
// on 127.0.0.1 and real MNIST: a full node holds a trained float mlp
// ("digits", quantized there to int8 as its version 2) and a float-only
// copy ("digits-f"); an edge node with a 4 MiB budget pulls digits (the
// int8 file, from the peer that serves it) and digits-f (the float file,
// quantized on the edge), serves them, and announces them as int8. Its
// answers on 200 real test images, through its control API and its TF
// Serving endpoint, match the float model's labels, and so do the full
// node's once it unloads digits and forwards the queries to the edge. A
// float cnn whose quantization would not fit, and a model whose file alone
// exceeds what is left, are refused with the sizes, and leave nothing.
func TestEdgePeerServesInt8(t *testing.T) {
	fa, fb, te := trainedMNIST(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	full, err := startNode(t, ctx, psk, "full", mesh.DefaultListen, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { full.Close() })
	const budget = 4 << 20
	ec := testConfig(t, psk, "edge", mesh.DefaultListen, full.Mesh().Addrs(), "")
	ec.Mesh.Role = mesh.RoleEdge
	ec.Registry = registry.Options{MemBudget: budget}
	edge, err := Start(ctx, ec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { edge.Close() })
	cf, ce := full.APIClient(), edge.APIClient()
	fid, eid := full.Mesh().ID().String(), edge.Mesh().ID().String()

	// The full node: digits v1 float, v2 its int8 form; digits-f float;
	// big, a float cnn; huge, a float mlp whose file alone is 6.5 MB.
	for name, b := range map[string][]byte{"digits": fb, "digits-f": fb} {
		if _, err := full.Models().Publish(name, b); err != nil {
			t.Fatal(err)
		}
	}
	cnn, _ := nn.Preset("cnn", nn.PresetOptions{})
	if _, err := full.Models().Publish("big", floatModel(t, cnn)); err != nil {
		t.Fatal(err)
	}
	wide := nn.Spec{Input: []int{784}, Layers: []nn.LayerSpec{{Type: "dense", Units: 2048, Activation: "relu"}, {Type: "dense", Units: 10}}}
	if _, err := full.Models().Publish("huge", floatModel(t, wide)); err != nil {
		t.Fatal(err)
	}
	if qr, err := cf.QuantizeModel(ctx, "digits"); err != nil || qr.Version != 2 {
		t.Fatalf("quantize on the full node: %+v, %v", qr, err)
	}
	waitFor(t, ctx, "the edge hears the full node serve digits v2 as int8", func() bool { return servedBy(edge, fid, "digits", 2, true) })
	waitFor(t, ctx, "the edge hears the full node hold the others", func() bool {
		p, ok := edge.Mesh().Peer(full.Mesh().ID())
		return ok && slices.Contains(p.Models, "huge") && slices.Contains(p.Models, "big") && slices.Contains(p.Models, "digits-f")
	})

	// The int8 form comes from the peer that serves it.
	res, err := ce.PullModel(ctx, "digits", controlapi.PullRequest{})
	if err != nil {
		t.Fatalf("edge pull digits: %v", err)
	}
	if !res.Int8 || res.QuantizedHere || res.RemoteVersion != 2 || res.Peer != fid || res.Version != 1 {
		t.Fatalf("edge pull digits = %+v; want the full node's int8 version 2 as version 1", res)
	}
	// No peer serves digits-f as int8: the float file is quantized here.
	res, err = ce.PullModel(ctx, "digits-f", controlapi.PullRequest{})
	if err != nil {
		t.Fatalf("edge pull digits-f: %v", err)
	}
	if !res.Int8 || !res.QuantizedHere || res.RemoteVersion != 1 || res.Bytes != int64(len(fb)) {
		t.Fatalf("edge pull digits-f = %+v; want the float file quantized here", res)
	}
	for _, name := range []string{"digits", "digits-f"} {
		m, err := edge.Catalog().Lookup(name, 0, "")
		if err != nil || !m.Signature().Quantized {
			t.Fatalf("edge serves %s: %v (int8: want true)", name, err)
		}
	}
	_, used := edge.Catalog().MemoryUse()
	if used <= 0 || used > budget {
		t.Fatalf("edge uses %d of its %d budget", used, budget)
	}

	// Over the budget: quantizing the cnn here would not fit; huge's file
	// alone exceeds what is left and is not transferred.
	_, err = ce.PullModel(ctx, "big", controlapi.PullRequest{})
	if err == nil {
		t.Fatal("the edge pulled a cnn whose quantization does not fit its budget")
	}
	for _, want := range []string{"big (float32) does not fit the memory budget", "quantizing it here needs", "the budget is 4.0 MiB",
		"already used by digits version 1", "digits-f version 1", "weights", "activations"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal of big %q lacks %q", err, want)
		}
	}
	t.Logf("refusal of big: %v", err)
	_, err = ce.PullModel(ctx, "huge", controlapi.PullRequest{})
	t.Logf("refusal of huge: %v", err)
	if err == nil || !strings.Contains(err.Error(), "huge is a file of 6.") || !strings.Contains(err.Error(), "the memory budget is 4.0 MiB") ||
		!strings.Contains(err.Error(), "not transferred") {
		t.Errorf("refusal of huge: %v", err)
	}
	if names, _ := edge.Models().List(); !slices.Equal(names, []string{"digits", "digits-f"}) {
		t.Errorf("edge store after the refusals: %v", names)
	}

	// The edge's answers on real images match the float model's.
	want := make([]string, edgeTestImages)
	for i := range want {
		p, err := fa.PredictVectors([][]float32{te.X[i*784 : (i+1)*784]})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = p[0].Label
	}
	_, floatAcc := agreement(want, want, te)
	for _, name := range []string{"digits", "digits-f"} {
		got, by := predictLabels(t, ctx, ce, name, te, edgeTestImages)
		agree, acc := agreement(got, want, te)
		t.Logf("edge %s: %.1f%% of labels as the float model's, accuracy %.1f%% (float %.1f%%)", name, 100*agree, 100*acc, 100*floatAcc)
		if by != "" || agree < 0.97 || acc < floatAcc-0.02 {
			t.Errorf("edge %s: served by %q, agreement %.3f, accuracy %.3f vs float %.3f", name, by, agree, acc, floatAcc)
		}
	}
	// Over HTTP (TF Serving REST) too.
	var body bytes.Buffer
	body.WriteString(`{"instances":[`)
	for i := range 20 {
		if i > 0 {
			body.WriteByte(',')
		}
		b, _ := json.Marshal(te.X[i*784 : (i+1)*784])
		body.Write(b)
	}
	body.WriteString(`]}`)
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+edge.ServeAddr()+"/v1/models/digits:predict", &body)
	hresp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	var pr tfserving.PredictResponse
	err = json.NewDecoder(hresp.Body).Decode(&pr)
	hresp.Body.Close()
	if err != nil || hresp.StatusCode != http.StatusOK || len(pr.Predictions) != 20 {
		t.Fatalf("TF Serving predict on the edge: %d, %+v, %v", hresp.StatusCode, pr, err)
	}
	agreeHTTP := 0
	for i, p := range pr.Predictions {
		if p.Label == want[i] {
			agreeHTTP++
		}
	}
	if agreeHTTP < 19 {
		t.Errorf("edge over HTTP: %d of 20 labels as the float model's", agreeHTTP)
	}

	// The full node hears the edge serve both as int8; once it unloads
	// digits, its queries for digits go to the edge.
	waitFor(t, ctx, "the full node hears the edge serve digits as int8", func() bool { return servedBy(full, eid, "digits", 1, true) })
	if err := cf.SetModelServing(ctx, "digits", false); err != nil {
		t.Fatal(err)
	}
	got, by := predictLabels(t, ctx, cf, "digits", te, edgeTestImages)
	agree, _ := agreement(got, want, te)
	if by != eid || agree < 0.97 {
		t.Errorf("full node's query for digits: answered by %q (want the edge %s), agreement %.3f", by, eid, agree)
	}

	// What the edge refused is not held against later pulls: with digits-f
	// removed, a model that fits still comes in.
	if err := ce.RemoveModel(ctx, "digits-f", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := ce.PullModel(ctx, "digits-f", controlapi.PullRequest{Peer: fid}); err != nil {
		t.Errorf("pull from a named peer: %v", err)
	}
}

// TestServePullsOnceAPeerHoldsIt: an edge node started with Config.Pull
// (shoal up --serve tiny) before any peer holds tiny pulls its int8 form
// once the full node publishes it, and serves it; a malformed --serve is
// refused before a node starts.
func TestServePullsOnceAPeerHoldsIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	full, err := startNode(t, ctx, psk, "full", mesh.DefaultListen, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { full.Close() })
	ec := testConfig(t, psk, "edge", mesh.DefaultListen, full.Mesh().Addrs(), "")
	ec.Mesh.Role = mesh.RoleEdge
	ec.Pull = []string{"tiny"}
	edge, err := Start(ctx, ec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { edge.Close() })
	if _, err := full.Models().Publish("tiny", tinyModel(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the edge serves tiny as int8", func() bool {
		m, err := edge.Catalog().Lookup("tiny", 0, "")
		return err == nil && m.Signature().Quantized
	})
	for _, bad := range []string{"", "a/b", "tiny@0", "tiny@-1", "tiny@x y"} {
		if err := CheckPullRef(bad); err == nil {
			t.Errorf("CheckPullRef(%q) passed", bad)
		}
	}
	for _, good := range []string{"tiny", "tiny@3", "tiny@stable", "tiny@latest"} {
		if err := CheckPullRef(good); err != nil {
			t.Errorf("CheckPullRef(%q): %v", good, err)
		}
	}
}
