package prune

import (
	"testing"

	"github.com/shoalmesh/shoal/engine/nn"
)

func TestMagnitude(t *testing.T) {
	s, _ := nn.Preset("mlp", nn.PresetOptions{})
	m, _ := nn.Build(s, 1)
	for _, tn := range m.Tensors() {
		if tn.Name == "layers.0.dense.bias" {
			for i := range tn.Data {
				tn.Data[i] = 1e-9 // tiny biases must survive
			}
		}
	}
	mk, err := Magnitude(m, 0.75)
	if err != nil {
		t.Fatal(err)
	}
	zeros, weights := 0, 0
	for _, tn := range m.Tensors() {
		if !isWeight(tn.Name) {
			for _, v := range tn.Data {
				if v == 0 && tn.Name == "layers.0.dense.bias" {
					t.Fatal("a bias was pruned")
				}
			}
			continue
		}
		weights += len(tn.Data)
		for _, v := range tn.Data {
			if v == 0 {
				zeros++
			}
		}
	}
	if want := int(0.75*784*128) + int(0.75*1280); zeros != want || mk.Pruned() != want {
		t.Fatalf("%d of %d weights zero, mask %d, want %d", zeros, weights, mk.Pruned(), want)
	}
	p := m.Params()
	for i := range p {
		p[i] = 1
	}
	mk.Apply(p)
	n := 0
	for _, v := range p {
		if v == 0 {
			n++
		}
	}
	if n != mk.Pruned() {
		t.Fatalf("Apply zeroed %d, want %d", n, mk.Pruned())
	}
	for _, bad := range []float64{-0.1, 1, 2} {
		if _, err := Magnitude(m, bad); err == nil {
			t.Errorf("sparsity %v accepted", bad)
		}
	}
}
