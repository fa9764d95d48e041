package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/job"
	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/node"
)

// TestJobAcceptDeclineStatusCLI: node 1 runs --jobs ask. Two jobs
// submitted on node 0 with `shoal job submit` (which prints the id at
// once) wait on node 1 as pending (`shoal job status` there says so);
// `shoal job accept` starts one, `shoal job decline` refuses the other,
// and `shoal job status` on node 0 names node 1 as having declined it.
func TestJobAcceptDeclineStatusCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two libp2p nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	start := func(name string, boot []string, policy string) (*node.Node, []string) {
		n, err := node.Start(ctx, node.Config{
			Mesh: mesh.Config{DataDir: t.TempDir(), PSK: psk, Listen: []string{mesh.DefaultListen}, Bootstrap: boot,
				Name: name, Role: mesh.RoleFull, Version: "test", HeartbeatInterval: 200 * time.Millisecond, PeerTimeout: 2 * time.Second},
			Jobs:    job.Config{JoinPolicy: policy},
			API:     serve.ControlConfig{Addr: "127.0.0.1:0"},
			NoServe: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n, []string{"--api", n.APIAddr(), "--data-dir", n.Mesh().DataPath()}
	}
	n0, at0 := start("node-0", nil, job.JoinAuto)
	n1, at1 := start("node-1", n0.Mesh().Addrs(), job.JoinAsk)
	for {
		if p, ok := n0.Mesh().Peer(n1.Mesh().ID()); ok && p.Alive {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the nodes never met")
		case <-time.After(50 * time.Millisecond):
		}
	}
	data := datatest.DaysTSV(t, 60)
	submit := func(seed string) string {
		out, _, err := runJobCLI(ctx, append([]string{"job", "submit", "--model", "seed-text", "--data", data, "--min-peers", "3",
			"--shard-rows", "20", "--seed", seed}, at0...)...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	status := func(id string, at []string) string {
		out, _, err := runJobCLI(ctx, append([]string{"job", "status", id}, at...)...)
		if err != nil {
			return err.Error()
		}
		return out
	}
	waitStatus := func(id string, at []string, want string) string {
		for {
			out := status(id, at)
			if strings.Contains(out, want) {
				return out
			}
			select {
			case <-ctx.Done():
				t.Fatalf("job status never showed %q; last:\n%s", want, out)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	accepted, declined := submit("1"), submit("2")
	if len(accepted) != 16 || len(declined) != 16 || accepted == declined {
		t.Fatalf("submit printed %q and %q, want two job ids", accepted, declined)
	}
	out := waitStatus(accepted, at1, "pending")
	if !strings.Contains(out, "shoal job accept "+accepted) {
		t.Errorf("pending status does not say how to answer:\n%s", out)
	}
	waitStatus(declined, at1, "pending")

	if out, _, err := runJobCLI(ctx, append([]string{"job", "accept", accepted}, at1...)...); err != nil || !strings.Contains(out, "accepted job "+accepted) {
		t.Fatalf("accept: %q, %v", out, err)
	}
	if out, _, err := runJobCLI(ctx, append([]string{"job", "decline", declined}, at1...)...); err != nil || !strings.Contains(out, "declined job "+declined) {
		t.Fatalf("decline: %q, %v", out, err)
	}
	if _, _, err := runJobCLI(ctx, append([]string{"job", "accept", declined}, at1...)...); err == nil || !strings.Contains(err.Error(), "declined") {
		t.Errorf("accept after decline: %v", err)
	}
	if !n1.Jobs().Known(accepted) || n1.Jobs().Known(declined) {
		t.Error("node 1 runs the wrong jobs")
	}
	out = waitStatus(declined, at0, "refused by 1 peer(s)")
	if !strings.Contains(out, n1.Mesh().ID().String()) || !strings.Contains(out, "declined: declined by this peer's operator") {
		t.Errorf("submitter's status of the declined job:\n%s", out)
	}
	if out, _, err := runJobCLI(ctx, append([]string{"job", "status", declined, "--json"}, at0...)...); err != nil || !strings.Contains(out, `"reason":"declined"`) {
		t.Errorf("status --json: %q, %v", out, err)
	}
	for _, id := range []string{accepted, declined} {
		if _, err := n0.APIClient().CancelJob(ctx, id); err != nil {
			t.Error(err)
		}
	}
}
