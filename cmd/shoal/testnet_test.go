package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// TestTestnetPeersAnswerTheCLI runs `shoal testnet --peers 2 --json` as a
// user would and, while it runs, asks each peer for its peers with `shoal
// peers --api … --data-dir …` from the addresses it printed.
func TestTestnetPeersAnswerTheCLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pr, pw := io.Pipe()
	root := newRootCmd()
	root.SetArgs([]string{"testnet", "--peers", "2", "--json"})
	root.SetOut(pw)
	root.SetErr(io.Discard)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(runCtx)
		pw.Close()
		done <- err
	}()
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatalf("no output from shoal testnet: %v", err)
	}
	go io.Copy(io.Discard, pr)
	var out testnetOutput
	if err := json.Unmarshal(line, &out); err != nil || !out.Converged || len(out.Peers) != 2 {
		t.Fatalf("shoal testnet printed %s (%v)", line, err)
	}
	// The idle footprint (--idle-window auto: at least 5 s) is measured
	// after the join and before the peers are printed.
	if f := out.Idle; f == nil || f.Peers != 2 || f.Window < 5*time.Second || f.CPUPercentPerPeer <= 0 || f.RSSBytesPerPeer == 0 {
		t.Fatalf("idle footprint %+v in %s", out.Idle, line)
	}
	if out.JoinMS < out.StartMS || out.HeartbeatEveryMS <= 0 {
		t.Fatalf("join %d ms, start %d ms, heartbeat %d ms", out.JoinMS, out.StartMS, out.HeartbeatEveryMS)
	}
	for _, p := range out.Peers {
		stdout, _, err := runJobCLI(ctx, "peers", "--json", "--api", p.API, "--data-dir", p.DataDir)
		if err != nil {
			t.Fatalf("shoal peers --api %s: %v", p.API, err)
		}
		var peers []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(stdout), &peers); err != nil || len(peers) != 1 || peers[0].ID == p.ID {
			t.Fatalf("peers of %s: %s (%v); want the other peer", p.Name, stdout, err)
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("shoal testnet: %v", err)
	}
}
