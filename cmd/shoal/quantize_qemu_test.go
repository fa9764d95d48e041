package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/engine/train"
)

// TestQEMUArm64PredictsLikeAmd64 cross-builds shoal for linux/arm64, runs
// it under qemu-user on an int8 MNIST mlp and checks that it predicts the
// labels this (amd64) build predicts for the first 100 test images: the
// pure-Go int8 kernel of arm64 and this machine's assembly agree. It needs
// qemu-aarch64 on PATH (Debian: apt-get install qemu-user); without it the
// test skips, except under CI=true, where .ci/run installs it.
func TestQEMUArm64PredictsLikeAmd64(t *testing.T) {
	if testing.Short() {
		t.Skip("cross build and emulation: not in -short")
	}
	qemu, err := exec.LookPath("qemu-aarch64")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("qemu-aarch64 is not on PATH: .ci/run installs qemu-user")
		}
		t.Skip("qemu-aarch64 not on PATH (apt-get install qemu-user): skipping the arm64 check")
	}
	dir := os.Getenv("SHOAL_MNIST")
	if dir == "" {
		t.Skip("SHOAL_MNIST is not set (make test sets it)")
	}
	tr, te, err := data.LoadMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A short training is enough: both builds must agree on whatever the
	// model predicts, right or wrong.
	n := 6000
	sub := &data.Dataset{X: tr.X[:n*784], Y: tr.Y[:n], N: n, SampleShape: tr.SampleShape, Labels: tr.Labels}
	spec, _ := nn.Preset("mlp", nn.PresetOptions{})
	m, err := nn.Build(spec, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := train.Fit(context.Background(), m, sub, nil, train.Config{Epochs: 1, BatchSize: 64, Seed: 1,
		Optimizer: nn.OptimizerConfig{Name: "adam", LR: 1e-3}}); err != nil {
		t.Fatal(err)
	}
	a, err := artifact.New(m, artifact.KindImage, tr.Labels, nil, artifact.Provenance{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := a.Quantize(nn.QuantizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	model := filepath.Join(tmp, "mlp-int8.safetensors")
	if _, err := q.Save(model); err != nil {
		t.Fatal(err)
	}
	var stdin strings.Builder
	var want []string
	for i := 0; i < 100; i++ {
		x := te.X[i*784 : (i+1)*784]
		b, _ := json.Marshal(x)
		fmt.Fprintf(&stdin, "%s\n", b)
		p, err := q.PredictVectors([][]float32{x})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, p[0].Label)
	}
	bin := filepath.Join(tmp, "shoal-arm64")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cross build: %v\n%s", err, out)
	}
	run := exec.Command(qemu, bin, "predict", model, "--json")
	run.Stdin = strings.NewReader(stdin.String())
	out, err := run.Output()
	if err != nil {
		t.Fatalf("arm64 predict under qemu: %v", err)
	}
	var got predictOutput
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("arm64 output: %v\n%s", err, out)
	}
	if len(got.Predictions) != len(want) {
		t.Fatalf("%d predictions from arm64, want %d", len(got.Predictions), len(want))
	}
	diff := 0
	for i, p := range got.Predictions {
		if p.Label != want[i] {
			diff++
			t.Errorf("image %d: arm64 says %s, amd64 %s", i, p.Label, want[i])
		}
	}
	t.Logf("arm64 (qemu, pure-Go int8 kernel) and amd64 agree on %d of %d images", len(want)-diff, len(want))
}
