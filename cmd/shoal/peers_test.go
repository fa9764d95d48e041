package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/serve"
	"github.com/shoalmesh/shoal/serve/controlapi"
)

type peersFakeNode struct{ peers []controlapi.Peer }

func (f peersFakeNode) Self() controlapi.Peer    { return controlapi.Peer{ID: "12D3KooWSelf", Name: "me"} }
func (f peersFakeNode) Peers() []controlapi.Peer { return f.peers }
func (f peersFakeNode) Subscribe() (<-chan controlapi.Event, func()) {
	return make(chan controlapi.Event), func() {}
}

func runShoal(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

func startPeersServer(t *testing.T, peers []controlapi.Peer) (addr, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	tok, err := serve.LoadOrCreateToken(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(serve.NewControlHandler(peersFakeNode{peers}, tok))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), dataDir
}

func TestPeersCmd(t *testing.T) {
	seen := time.Now().Add(-3 * time.Second)
	addr, dir := startPeersServer(t, []controlapi.Peer{
		{ID: "12D3KooWZZZZZZzzzzzz", Name: "zulu", Role: "edge", Cores: 4, MemBytes: 4 << 30, RTT: 1500 * time.Microsecond, LastSeen: seen, Alive: true,
			Served: []controlapi.ServedModel{{Name: "digits", Versions: []int{3, 2}}, {Name: "spam", Versions: []int{1}, Int8: true, Queue: 4}}},
		{ID: "12D3KooWAAAAAAaaaaaa", Name: "alpha", Role: "full", Cores: 16, MemBytes: 64 << 30, LastSeen: seen, Alive: true},
	})

	out, _, err := runShoal(t, "peers", "--api", addr, "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "LAST SEEN") {
		t.Fatalf("table:\n%s", out)
	}
	for _, want := range []string{"12*aaaaaa", "alpha", "full", "16", "64.0 GiB", "3s ago"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row 1 %q lacks %q", lines[1], want)
		}
	}
	for _, want := range []string{"12*zzzzzz", "zulu", "edge", "1.5ms", "4.0 GiB", "digits@3 spam@1(int8,q=4)"} {
		if !strings.Contains(lines[2], want) {
			t.Errorf("row 2 %q lacks %q", lines[2], want)
		}
	}

	out, _, err = runShoal(t, "peers", "--api", addr, "--data-dir", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json output is not a JSON array: %v\n%s", err, out)
	}
	if len(got) != 2 || got[0]["name"] != "alpha" || got[1]["rtt_ns"] != float64(1500000) || got[1]["served"] == nil {
		t.Errorf("--json = %v", got)
	}
	for _, k := range []string{"id", "name", "role", "version", "cores", "mem_bytes", "load", "models", "jobs", "addrs", "last_seen", "rtt_ns", "alive"} {
		if _, ok := got[0][k]; !ok {
			t.Errorf("--json entry lacks %q", k)
		}
	}
}

func TestPeersCmdEmptyJSON(t *testing.T) {
	addr, dir := startPeersServer(t, nil)
	out, _, err := runShoal(t, "peers", "--api", addr, "--data-dir", dir, "--json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("no peers --json = %q, %v; want []", out, err)
	}
}

func TestPeersCmdErrors(t *testing.T) {
	addr, dir := startPeersServer(t, nil)

	// No token file in the data dir.
	_, _, err := runShoal(t, "peers", "--api", addr, "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no API token") {
		t.Errorf("missing token file: %v", err)
	}

	// A token that is not the node's.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, controlapi.TokenFileName), []byte("not-the-right-token-at-all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = runShoal(t, "peers", "--api", addr, "--data-dir", other)
	if err == nil || err.Error() != "unauthorized: wrong or missing API token" {
		t.Errorf("wrong token: %v", err)
	}

	// Nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	out, _, err := runShoal(t, "peers", "--api", dead, "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "no shoal node answering on "+dead+" (is `shoal up` running?)") {
		t.Errorf("dead address: %v", err)
	}
	if out != "" {
		t.Errorf("stdout on error: %q", out)
	}
}

func TestShortID(t *testing.T) {
	for in, want := range map[string]string{
		"12D3KooWGzBnkZ8uWvDR1KLbQvqz1DTkE3wC7Fhc1oXfbXoW9h5F": "12*oW9h5F",
		"short": "short",
		"":      "-",
	} {
		if got := shortID(in); got != want {
			t.Errorf("shortID(%q) = %q, want %q", in, got, want)
		}
	}
}
