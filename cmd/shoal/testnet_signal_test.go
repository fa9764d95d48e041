package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTestnetExitsSoonAfterASignal runs the real binary's `shoal testnet`
// and signals it in three states: while its peers are still joining, idle
// after they all met, and with a training job in flight. Each time it must
// exit within testnetShutdownGrace (10 s) of the signal, on its own (not
// by the signal's default action), with 0 or 1, and without taking the
// grace exit: a run once hung 16 minutes after SIGTERM in a GossipSub
// call; the grace exit now bounds that, and reaching it means shutdown
// hung, so this test fails then too.
func TestTestnetExitsSoonAfterASignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs peers; skipped with -short")
	}
	bin := buildShoal(t)
	mnist := os.Getenv("SHOAL_MNIST")
	cases := []struct {
		name string
		sig  syscall.Signal
		args []string
		// after is the log line the signal is sent on.
		after *regexp.Regexp
		mnist bool
	}{
		{name: "joining", sig: syscall.SIGTERM, args: []string{"--peers", "20", "--log-level", "debug"},
			after: regexp.MustCompile(`msg="peer joined"`)},
		{name: "idle", sig: syscall.SIGINT, args: []string{"--peers", "4"},
			after: regexp.MustCompile(`running until Ctrl-C`)},
		{name: "training", sig: syscall.SIGTERM, args: []string{"--peers", "4", "--model", "mlp", "--epochs", "3", "--log-level", "debug", "--json"},
			after: regexp.MustCompile(`msg="local data"`), mnist: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"testnet"}, c.args...)
			if c.mnist {
				if mnist == "" {
					t.Skip("SHOAL_MNIST not set (make test sets it): no data for a job")
				}
				args = append(args, "--data", mnist)
			}
			log := newMeshLog()
			cmd := exec.Command(bin, args...)
			cmd.Stderr = log
			cmd.Env = append(os.Environ(), "SHOAL_DATA_DIR=")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					<-done
				}
			})
			log.waitMatch(t, c.name, c.after, time.Minute)
			if err := cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			signalled := time.Now()
			var err error
			select {
			case err = <-done:
			case <-time.After(testnetShutdownGrace + 5*time.Second):
				t.Fatalf("still running %v after %v (the grace exit did not fire either); log tail:\n%s",
					time.Since(signalled).Round(time.Millisecond), c.sig, tail(log.String(), 3000))
			}
			took := time.Since(signalled)
			t.Logf("%s: exited %v after %v (%v)", c.name, took.Round(time.Millisecond), c.sig, err)
			st := cmd.ProcessState
			if !st.Exited() {
				t.Fatalf("ended by %v's default action, not by shoal: %v", c.sig, st)
			}
			if code := st.ExitCode(); code != 0 && code != 1 {
				t.Errorf("exit code %d, want 0 or 1", code)
			}
			out := log.String()
			if strings.Contains(out, "still stopping") {
				t.Errorf("shutdown hung: the %v grace exit fired; log tail:\n%s", testnetShutdownGrace, tail(out, 3000))
			}
			if took > testnetShutdownGrace {
				t.Errorf("exited %v after %v, want within %v", took.Round(time.Millisecond), c.sig, testnetShutdownGrace)
			}
			if strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") {
				t.Errorf("stack trace in the log:\n%s", tail(out, 3000))
			}
		})
	}
}
