package mesh

import (
	"context"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestEchoFilterDropsOwnMessages: of an RPC's published messages, those
// signed by this node are dropped and counted, the rest kept in order, and
// the control part is left alone.
func TestEchoFilterDropsOwnMessages(t *testing.T) {
	self, other := peer.ID("self-peer-id"), peer.ID("other-peer-id")
	f := newEchoFilter(self)
	msg := func(from peer.ID, data string) *pb.Message {
		return &pb.Message{From: []byte(from), Data: []byte(data)}
	}
	ihave := &pb.ControlMessage{Ihave: []*pb.ControlIHave{{MessageIDs: []string{"x"}}}}
	ihaveBefore := ihave.Ihave[0].MessageIDs[0]
	for _, c := range []struct {
		name    string
		publish []*pb.Message
		want    []string
		dropped int64
	}{
		{"empty", nil, nil, 0},
		{"none of ours", []*pb.Message{msg(other, "a"), msg(other, "b")}, []string{"a", "b"}, 0},
		{"only ours", []*pb.Message{msg(self, "a"), msg(self, "b")}, nil, 2},
		{"mixed", []*pb.Message{msg(self, "a"), msg(other, "b"), msg(self, "c"), msg(other, "d")}, []string{"b", "d"}, 2},
		{"no author", []*pb.Message{{Data: []byte("a")}}, []string{"a"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := f.dropped.Load()
			rpc := &pubsub.RPC{RPC: pb.RPC{Publish: c.publish, Control: ihave}}
			if err := f.inspect(other, rpc); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range rpc.Publish {
				got = append(got, string(m.Data))
			}
			if len(got) != len(c.want) {
				t.Fatalf("kept %q, want %q", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("kept %q, want %q", got, c.want)
				}
			}
			if d := f.dropped.Load() - before; d != c.dropped {
				t.Fatalf("dropped %d, want %d", d, c.dropped)
			}
			if rpc.Control != ihave || len(ihave.Ihave[0].MessageIDs) != 1 || ihave.Ihave[0].MessageIDs[0] != ihaveBefore {
				t.Fatal("the control part was changed")
			}
		})
	}
}

// TestEchoFilterStripsOwnIDsFromIHave: the ids of our own messages are
// taken out of the IHAVEs we get, so the router never asks for them; the
// others' ids stay, in order.
func TestEchoFilterStripsOwnIDsFromIHave(t *testing.T) {
	self, other := peer.ID("self-peer-id"), peer.ID("other-peer-id")
	f := newEchoFilter(self)
	id := func(from peer.ID, seq byte) string {
		return pubsub.DefaultMsgIdFn(&pb.Message{From: []byte(from), Seqno: []byte{0, 0, 0, 0, 0, 0, 0, seq}})
	}
	rpc := &pubsub.RPC{RPC: pb.RPC{Control: &pb.ControlMessage{Ihave: []*pb.ControlIHave{
		{MessageIDs: []string{id(self, 1), id(other, 1), id(self, 2), id(other, 2)}},
		{MessageIDs: []string{id(self, 3)}},
		{},
	}}}}
	if err := f.inspect(other, rpc); err != nil {
		t.Fatal(err)
	}
	ih := rpc.Control.Ihave
	if len(ih[0].MessageIDs) != 2 || ih[0].MessageIDs[0] != id(other, 1) || ih[0].MessageIDs[1] != id(other, 2) {
		t.Fatalf("first IHAVE kept %q", ih[0].MessageIDs)
	}
	if len(ih[1].MessageIDs) != 0 || len(ih[2].MessageIDs) != 0 {
		t.Fatalf("the others kept %q, %q", ih[1].MessageIDs, ih[2].MessageIDs)
	}
	if got := f.asked.Load(); got != 3 {
		t.Fatalf("stripped %d ids, want 3", got)
	}
}

// TestOwnMessageIDsStartWithOurID: echoFilter recognises our message ids
// by their prefix, which holds only while the mesh's router gives
// messages GossipSub's default ids (author, then sequence number): a
// message the node publishes comes back on its own subscription with
// such an id.
func TestOwnMessageIDsStartWithOurID(t *testing.T) {
	n := startNode(t, testKey(t, 31), "a")
	top, err := n.JoinTopic("t", func(peer.ID, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	sub, err := top.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := top.Publish(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.ID, string(n.ID())) || len(m.ID) <= len(string(n.ID())) {
		t.Fatalf("message id %x does not start with the author's id %x", m.ID, string(n.ID()))
	}
}
