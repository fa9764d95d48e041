package node

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

// tinyModel is a real model file: one dense layer over 4 inputs, 3 classes.
func tinyModel(t *testing.T) []byte {
	t.Helper()
	m, err := nn.Build(nn.Spec{Input: []int{4}, Layers: []nn.LayerSpec{{Type: "dense", Units: 3}}}, 7)
	if err != nil {
		t.Fatal(err)
	}
	a, err := artifact.New(m, artifact.KindImage, []string{"a", "b", "c"}, nil, artifact.Provenance{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestModelsOverTheControlAPI: a model published on b is queried through
// a's control API (a holds nothing, so b answers over the mesh and says
// so), then pulled into a's store from b over the model transfer protocol,
// after which a answers the same query itself with the same answer.
func TestModelsOverTheControlAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := twoNodes(t, ctx)
	ca := a.APIClient()
	ectx, ecancel := context.WithCancel(ctx)
	defer ecancel()
	events, err := ca.Events(ectx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Models().Publish("tiny", tinyModel(t)); err != nil {
		t.Fatal(err)
	}
	bid := b.Mesh().ID().String()
	for served := false; !served; {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			served = ev.Peer != nil && ev.Peer.ID == bid && slices.ContainsFunc(ev.Peer.Served, func(s controlapi.ServedModel) bool {
				return s.Name == "tiny" && slices.Equal(s.Versions, []int{1})
			})
		case <-ctx.Done():
			t.Fatal("a never heard that b serves tiny")
		}
	}
	peers, err := ca.Peers(ctx)
	if err != nil || len(peers) != 1 || len(peers[0].Served) != 1 {
		t.Fatalf("peers = %+v, %v; want b serving tiny", peers, err)
	}

	req := controlapi.PredictRequest{Inputs: []json.RawMessage{json.RawMessage(`[0.5, -1, 2, 0.25]`)}}
	remote, err := ca.PredictModel(ctx, "tiny", req)
	if err != nil {
		t.Fatalf("predict through a: %v", err)
	}
	if remote.ServedBy != bid || remote.Version != 1 || len(remote.Predictions) != 1 {
		t.Fatalf("predict through a = %+v; want version 1 served by b %s", remote, bid)
	}

	res, err := ca.PullModel(ctx, "tiny", controlapi.PullRequest{})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if res.Version != 1 || res.RemoteVersion != 1 || res.Peer != bid || res.Bytes == 0 || len(res.SHA256) != 64 {
		t.Fatalf("pull = %+v; want version 1 from b", res)
	}
	models, err := ca.Models(ctx)
	if err != nil || len(models) != 1 || models[0].Name != "tiny" || models[0].Versions[0].State != "AVAILABLE" || models[0].Versions[0].Bytes != res.Bytes {
		t.Fatalf("a's models after the pull = %+v, %v", models, err)
	}
	local, err := ca.PredictModel(ctx, "tiny", req)
	if err != nil {
		t.Fatalf("predict after the pull: %v", err)
	}
	if local.ServedBy != "" {
		t.Errorf("after the pull a still forwards to %s", local.ServedBy)
	}
	if got, want := local.Predictions[0], remote.Predictions[0]; got.Label != want.Label || !slices.Equal(got.Probabilities, want.Probabilities) {
		t.Errorf("a's own answer %+v differs from b's %+v", got, want)
	}

	// Unloaded on a, the model is answered by b again; served again, by a.
	if err := ca.SetModelServing(ctx, "tiny", false); err != nil {
		t.Fatal(err)
	}
	if models, err := ca.Models(ctx); err != nil || models[0].Versions[0].State != "END" || models[0].Versions[0].Error != "unloaded by the operator" {
		t.Fatalf("after unload: %+v, %v", models, err)
	}
	if r, err := ca.PredictModel(ctx, "tiny", req); err != nil || r.ServedBy != bid {
		t.Fatalf("predict after unload: %+v, %v; want b to answer", r, err)
	}
	if err := ca.SetModelServing(ctx, "tiny", true); err != nil {
		t.Fatal(err)
	}
	if r, err := ca.PredictModel(ctx, "tiny", req); err != nil || r.ServedBy != "" {
		t.Fatalf("predict after serve: %+v, %v; want a itself", r, err)
	}
	if err := ca.SetModelServing(ctx, "absent", false); err == nil {
		t.Error("unloading a model the node does not hold succeeded")
	}
	// Quantized on a: version 2 is int8, served, and answers the same
	// class; a second quantize of the int8 newest is refused.
	qr, err := ca.QuantizeModel(ctx, "tiny")
	if err != nil || qr.Version != 2 || qr.FromVersion != 1 {
		t.Fatalf("quantize: %+v, %v", qr, err)
	}
	if r, err := ca.PredictModel(ctx, "tiny", req); err != nil || r.Version != 2 || r.ServedBy != "" || r.Predictions[0].Label != remote.Predictions[0].Label {
		t.Fatalf("predict of the int8 version: %+v, %v", r, err)
	}
	if _, err := ca.QuantizeModel(ctx, "tiny"); err == nil || !strings.Contains(err.Error(), "int8 already") {
		t.Errorf("quantizing an int8 newest: %v", err)
	}

	// A pull from a peer that lacks the model fails as not found, and a
	// pull naming this node itself is refused.
	if _, err := b.APIClient().PullModel(ctx, "absent", controlapi.PullRequest{Peer: a.Mesh().ID().String()}); err == nil {
		t.Error("pulling a model a does not hold succeeded")
	}
	if _, err := ca.PullModel(ctx, "tiny", controlapi.PullRequest{Peer: a.Mesh().ID().String()}); err == nil {
		t.Error("pulling from the node itself succeeded")
	}
}
