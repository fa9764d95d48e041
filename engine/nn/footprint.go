package nn

// Footprint is what a model of a spec holds, found by shape inference
// alone: nothing is allocated, so a peer can weigh a job a stranger
// announced before it builds anything.
type Footprint struct {
	// Params is the number of float32 parameters.
	Params int
	// Activations is the float32 values the layers' outputs hold per
	// sample in one forward pass (the backward pass needs as many again).
	Activations int
}

// Footprint returns the spec's Footprint, or the error Validate would.
func (s Spec) Footprint() (Footprint, error) {
	p, err := s.plan()
	if err != nil {
		return Footprint{}, err
	}
	f := Footprint{Params: p.params}
	for i, out := range p.out {
		f.Activations += prod(out)
		// An LSTM keeps its four gates for every step, for the backward
		// pass; conv2d its im2col matrix. Both dwarf the output.
		switch s.Layers[i].Type {
		case "lstm":
			if in := p.in[i]; len(in) == 2 {
				dirs := 1
				if s.Layers[i].Bidirectional {
					dirs = 2
				}
				f.Activations += dirs * 4 * in[0] * s.Layers[i].Units
			}
		case "conv2d":
			if in := p.in[i]; len(in) == 3 && len(out) == 3 {
				f.Activations += mulSat(out[1], out[2], in[0], s.Layers[i].Kernel, s.Layers[i].Kernel)
			}
		}
	}
	return f, nil
}
