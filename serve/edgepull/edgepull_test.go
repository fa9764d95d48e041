package edgepull

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/text"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/serve/registry"
)

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestQuantizeFootprint: what quantizing a loaded float model here adds
// (its int8 copy and that copy's encoded file) stays within
// quantizeExtra, which the budget check adds to the float model's Peak,
// for mlp, cnn and lstm-text.
func TestQuantizeFootprint(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"mlp", "cnn", "lstm-text"} {
		o := nn.PresetOptions{Classes: 10}
		kind := artifact.KindImage
		labels := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
		var enc *text.Encoder
		if name == "lstm-text" {
			o = nn.PresetOptions{Vocab: 20000, MaxLen: 64, Classes: 2}
			kind, labels = artifact.KindText, []string{"ham", "spam"}
			toks := make([]string, o.Vocab-text.Reserved)
			for i := range toks {
				toks[i] = fmt.Sprintf("token%05d", i)
			}
			v, err := text.NewVocab(toks)
			if err != nil {
				t.Fatal(err)
			}
			enc = &text.Encoder{Tokenizer: *text.NewTokenizer(), Vocab: v, MaxLen: o.MaxLen}
		}
		spec, err := nn.Preset(name, o)
		if err != nil {
			t.Fatal(err)
		}
		m, err := nn.Build(spec, 1)
		if err != nil {
			t.Fatal(err)
		}
		a, err := artifact.New(m, kind, labels, enc, artifact.Provenance{})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+".safetensors")
		if _, err := a.Save(path); err != nil {
			t.Fatal(err)
		}
		a, m = nil, nil
		fp, err := registry.FileFootprint(path, registry.DefaultMaxBatchSize)
		if err != nil {
			t.Fatal(err)
		}
		l, err := artifact.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		h0 := liveHeap()
		q, err := l.Quantize(nn.QuantizeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := q.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got := liveHeap() - h0
		runtime.KeepAlive(l)
		runtime.KeepAlive(q)
		runtime.KeepAlive(b)
		t.Logf("%-9s float weights %8d: quantizing added %8d, allowed %8d", name, fp.Weights, got, quantizeExtra(fp))
		if got > quantizeExtra(fp) {
			t.Errorf("%s: quantizing took %d beside the float model, more than the %d the budget allows for", name, got, quantizeExtra(fp))
		}
	}
}

// TestInt8Servers: the sources of an int8 pull are the live peers that
// serve the model as int8 (not this node, not the float servers, not the
// dead), nearest first and unknown RTTs last, each asked for the version
// it serves.
func TestInt8Servers(t *testing.T) {
	ids := make([]peer.ID, 5)
	for i := range ids {
		id, err := peer.Decode(testPeerIDs[i])
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	served := func(int8 bool, v ...int) []mesh.ServedModel {
		return []mesh.ServedModel{{Name: "other", Versions: []int{9}, Int8: true}, {Name: "digits", Versions: v, Int8: int8}}
	}
	peers := []mesh.PeerInfo{
		{ID: ids[0].String(), Alive: true, RTT: 0, Served: served(true, 4)},                       // unknown RTT: last
		{ID: ids[1].String(), Alive: true, RTT: 3 * time.Millisecond, Served: served(true, 2, 1)}, // second
		{ID: ids[2].String(), Alive: true, RTT: time.Millisecond, Served: served(false, 5)},       // float
		{ID: ids[3].String(), Alive: false, RTT: time.Millisecond, Served: served(true, 7)},       // dead
		{ID: ids[4].String(), Alive: true, RTT: 2 * time.Millisecond, Served: served(true, 3)},    // first
		{ID: "not a peer id", Alive: true, Served: served(true, 1)},
	}
	got := int8Servers(peers, "digits", ids[1])
	want := []source{{peer: ids[4], ref: "3", int8: true}, {peer: ids[0], ref: "4", int8: true}}
	if !slices.Equal(got, want) {
		t.Errorf("int8Servers (self %s) = %v, want %v", ids[1].ShortString(), got, want)
	}
	got = int8Servers(peers, "digits", "")
	if len(got) != 3 || got[0].peer != ids[4] || got[1].peer != ids[1] || got[1].ref != "2" {
		t.Errorf("int8Servers = %v", got)
	}
}

// testPeerIDs are fixed, valid peer ids (Ed25519 keys).
var testPeerIDs = []string{
	"12D3KooWJRSo91hFzQZVtfbEycL8J8itJVNvvD7QmRysS7waLE9E",
	"12D3KooWBnAH7AUZ8mUf25TtggeSNYZqMEqBLcBocRkkgw8FT9ZT",
	"12D3KooWHTbDLuJohEWkj9E5WwhoN2sxF4WQ341Ds1ebrtCpSXmf",
	"12D3KooWGy32zcGpWbLUVXPMTNFhnFaWA3uLzgTS7wCut83cKJYF",
	"12D3KooWBGopJUpZsptADeXxHiYKrKSSb7FEyAQdkmmcZKsLqfK5",
}
