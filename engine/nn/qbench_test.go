package nn

import (
	"fmt"
	"testing"
)

// BenchmarkForwardInt8 times the int8 forward pass of the MNIST presets
// beside the float32 one (random weights; speed does not depend on them).
func BenchmarkForwardInt8(b *testing.B) {
	for _, name := range []string{"mlp", "cnn"} {
		s, _ := Preset(name, PresetOptions{})
		m, _ := Build(s, 1)
		q, err := m.Quantize(QuantizeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{1, 64} {
			x := make([]float32, n*m.InputSize())
			for i := range x {
				x[i] = float32(i%11) / 11
			}
			for _, v := range []struct {
				form string
				m    *Model
			}{{"float32", m}, {"int8", q}} {
				b.Run(fmt.Sprintf("%s/%d/%s", name, n, v.form), func(b *testing.B) {
					for b.Loop() {
						v.m.Forward(x, n)
					}
				})
			}
		}
	}
}
