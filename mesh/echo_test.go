package mesh

import (
	"testing"

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
			if rpc.Control != ihave {
				t.Fatal("the control part was changed")
			}
		})
	}
}
