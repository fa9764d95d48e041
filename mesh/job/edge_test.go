package job

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/mesh"
)

// TestEdgeResumesOnlyEdgeJobs: a data dir holds two unfinished jobs a
// node joined (as a full peer), one asking for edge peers and one not.
// Restarted with --role edge, the node resumes only the first: it takes
// no shards of a job that did not ask for edge peers.
func TestEdgeResumesOnlyEdgeJobs(t *testing.T) {
	dir := t.TempDir()
	plain := validAnnouncement()
	edgy := validAnnouncement()
	edgy.Spec.Edge = true
	edgy.Spec.assignID()
	w := &Manager{cfg: Config{DataDir: dir}}
	for _, ann := range []Announcement{plain, edgy} {
		if err := w.persist(ann); err != nil {
			t.Fatal(err)
		}
	}
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := mesh.Start(ctx, mesh.Config{DataDir: dir, PSK: psk, Listen: []string{mesh.DefaultListen},
		Role: mesh.RoleEdge, Version: "test", HeartbeatInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	store, err := modelstore.Open(filepath.Join(dir, "models"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(Config{Node: n, DataDir: dir, Models: store, Role: mesh.RoleEdge, MinPeersWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	var ids []string
	for _, j := range m.Jobs() {
		ids = append(ids, j.Spec.ID)
	}
	if !slices.Equal(ids, []string{edgy.Spec.ID}) {
		t.Fatalf("edge node resumed %v; want only the edge job %s (not %s)", ids, edgy.Spec.ID, plain.Spec.ID)
	}
	if m.edgeMayRun(plain.Spec) {
		t.Error("an edge node would join a job that asks for no edge peers")
	}
	own := plain.Spec
	own.Submitter = n.ID().String()
	if !m.edgeMayRun(own) {
		t.Error("an edge node would not run its own operator's job")
	}
}
