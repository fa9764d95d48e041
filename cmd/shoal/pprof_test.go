package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestServePprofLoopbackOnly: profiles are served on a loopback address
// and refused on any other, before anything listens.
func TestServePprofLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "[::]:0", "example.com:0", "no-port"} {
		if stop, err := servePprof(addr, io.Discard); err == nil {
			stop()
			t.Errorf("--pprof %s was accepted", addr)
		}
	}
	var log strings.Builder
	stop, err := servePprof("127.0.0.1:0", &log)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// The address it took is in the line it printed.
	url := strings.TrimSpace(strings.TrimPrefix(log.String(), "profiles on "))
	resp, err := http.Get(url + "goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("%s: %d %.200q", url, resp.StatusCode, body)
	}
}
