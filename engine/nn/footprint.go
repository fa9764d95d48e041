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
	// Inference is the same for an inference pass (Model.Forward) on
	// this machine: a conv2d that takes the direct path (conv_direct.go)
	// keeps no im2col columns. (The im2col path's inference reuses one
	// chunk's columns, but with its chunk's products those measure about
	// as much as the columns of a batch of 32.)
	Inference int
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
		f.Inference += prod(out)
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
				f.Inference += dirs * 4 * in[0] * s.Layers[i].Units
			}
		case "conv2d":
			if in := p.in[i]; len(in) == 3 && len(out) == 3 {
				l := &conv2d{c: in[0], stride: max(s.Layers[i].Stride, 1), act: parseAct(s.Layers[i].Activation),
					f: s.Layers[i].Filters, ho: out[1], wo: out[2]}
				col := mulSat(out[1], out[2], in[0], s.Layers[i].Kernel, s.Layers[i].Kernel)
				f.Activations += col
				if !l.directOK() {
					f.Inference += col
				}
			}
		}
	}
	return f, nil
}
