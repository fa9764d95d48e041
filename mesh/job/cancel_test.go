package job

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/mesh"
)

func TestDecodeCancelMessage(t *testing.T) {
	id := validAnnouncement().Spec.ID
	b, err := encodeEnvelope(envelope{V: messageVersion, Kind: kindCancel, Cancel: &CancelMessage{Job: id}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := decodeMessage(b)
	if err != nil || env.Cancel.Job != id {
		t.Fatalf("round trip: %v %+v", err, env.Cancel)
	}
	for _, c := range []struct{ name, in, want string }{
		{"no body", `{"v":1,"kind":"cancel"}`, "without its body"},
		{"bad id", `{"v":1,"kind":"cancel","cancel":{"job":"../x"}}`, "bad job id"},
		{"empty id", `{"v":1,"kind":"cancel","cancel":{"job":""}}`, "bad job id"},
		{"two bodies", `{"v":1,"kind":"cancel","cancel":{"job":"` + id + `"},"status":{"job":"` + id + `","state":"joined"}}`, "without its body"},
		{"cancel on a status", `{"v":1,"kind":"status","cancel":{"job":"` + id + `"},"status":{"job":"` + id + `","state":"joined"}}`, "without its body"},
		{"unknown field", `{"v":1,"kind":"cancel","cancel":{"job":"` + id + `","why":"x"}}`, "unknown field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeMessage([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func FuzzDecodeCancel(f *testing.F) {
	f.Add([]byte(`{"v":1,"kind":"cancel","cancel":{"job":"` + validAnnouncement().Spec.ID + `"}}`))
	f.Add([]byte(`{"v":1,"kind":"cancel","cancel":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := decodeMessage(b)
		if err == nil && env.Kind == kindCancel && (env.Cancel == nil || !validID(env.Cancel.Job)) {
			t.Fatalf("accepted %q", b)
		}
	})
}

// cancelPeer is one real mesh node with a job manager, on loopback.
type cancelPeer struct {
	node *mesh.Node
	jobs *Manager
	dir  string
}

func startCancelPeer(t *testing.T, ctx context.Context, psk []byte, boot []string) *cancelPeer {
	return startTestPeer(t, ctx, psk, boot, mesh.RoleFull, nil)
}

// startTestPeer is startCancelPeer with a role and a change to the job
// manager's config (nil: none).
func startTestPeer(t *testing.T, ctx context.Context, psk []byte, boot []string, role string, adjust func(*Config)) *cancelPeer {
	t.Helper()
	dir := t.TempDir()
	n, err := mesh.Start(ctx, mesh.Config{DataDir: dir, PSK: psk, Listen: []string{mesh.DefaultListen}, Bootstrap: boot,
		Role: role, Version: "test", HeartbeatInterval: 100 * time.Millisecond, PeerTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	store, err := modelstore.Open(filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Node: n, DataDir: dir, Models: store, Role: role, MinPeersWait: time.Minute}
	if adjust != nil {
		adjust(&cfg)
	}
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return &cancelPeer{node: n, jobs: m, dir: dir}
}

// TestCancelAcrossTheMesh: a job that waits for more members than there
// are is canceled by its submitter; it ends on both peers as canceled, is
// marked ended on disk, and a second cancel says it ended.
func TestCancelAcrossTheMesh(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two libp2p nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	a := startCancelPeer(t, ctx, psk, nil)
	b := startCancelPeer(t, ctx, psk, a.node.Addrs())
	data := filepath.Join(t.TempDir(), "days.tsv")
	var rows strings.Builder
	for i := range 60 {
		if i%2 == 0 {
			fmt.Fprintf(&rows, "good\ta good day %d\n", i)
		} else {
			fmt.Fprintf(&rows, "bad\ta bad day %d\n", i)
		}
	}
	if err := os.WriteFile(data, []byte(rows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	events, stop := b.jobs.Subscribe()
	defer stop()
	spec, err := a.jobs.Submit(ctx, Spec{Model: "seed-text", Data: data, Epochs: 1, MinPeers: 3, ShardRows: 20})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until b runs the job too (its own job_announced).
	for !b.jobs.Known(spec.ID) {
		select {
		case <-events:
		case <-ctx.Done():
			t.Fatal("b never heard of the job")
		}
	}
	if _, err := b.jobs.Cancel(ctx, "feedfeedfeedfeed"); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("cancel of an unknown job: %v", err)
	}
	sent, err := a.jobs.Cancel(ctx, spec.ID)
	if err != nil || !sent {
		t.Fatalf("cancel by the submitter: sent %v, %v", sent, err)
	}
	for _, p := range []*cancelPeer{a, b} {
		_, err := p.jobs.Wait(ctx, spec.ID)
		var ce *CanceledError
		if !errors.As(err, &ce) || ce.By != a.node.ID().String() {
			t.Errorf("job ended with %v, want canceled by %s", err, a.node.ID())
		}
		if !p.jobs.finished(spec.ID) {
			t.Error("a canceled job is not marked ended: a restart would resume it")
		}
	}
	if _, err := a.jobs.Cancel(ctx, spec.ID); !errors.Is(err, ErrJobEnded) {
		t.Errorf("second cancel: %v", err)
	}
}
