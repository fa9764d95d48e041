package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Tensor is a named view into Model.Params (no copy).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Model is a built Sequential network. It is NOT safe for concurrent use:
// layers keep their activations between the forward and backward pass.
type Model struct {
	spec    Spec
	loss    string
	layers  []layer
	inSize  int
	outSize int
	params  []float32
	grads   []float32
	tensors []Tensor
	ctx     batchCtx
	inputs  [][]float32 // input of each layer in the last forward pass
	dlogits []float32
	// classWeights scales each sample's gradient by its class's weight
	// (SetClassWeights); nil: all 1.
	classWeights []float32

	lossSplit lossSplit // the loss split by rows (--threads > 1)

	quant *quantState // non-nil for an int8 model (quantize.go)
}

// Build creates a model from a spec with Glorot/He initialisation drawn
// from seed: the same spec and seed give the same bits.
//
// When the last layer ends in the activation that the loss already
// applies (sigmoid before binary cross-entropy, softmax before softmax
// cross-entropy), as a Keras spec often does, it is folded into the loss:
// the model outputs logits and the loss stays numerically stable.
func Build(s Spec, seed uint64) (*Model, error) {
	p, err := s.plan()
	if err != nil {
		return nil, err
	}
	m := &Model{spec: cloneSpec(s), loss: p.loss, inSize: prod(s.Input), outSize: prod(p.out[len(p.out)-1])}
	m.spec.Loss = p.loss
	link := "softmax"
	if p.loss == LossBinaryCE {
		link = "sigmoid"
	}
	last := len(s.Layers) - 1
	for i, ls := range s.Layers {
		in, out := p.in[i], p.out[i]
		fold := i == last && ls.Activation == link
		var l layer
		switch ls.Type {
		case "dense":
			act := parseAct(ls.Activation)
			if fold {
				act = actLinear
			}
			l = &dense{in: in[len(in)-1], out: ls.Units, outer: prod(in) / in[len(in)-1], act: act}
		case "embedding":
			l = &embedding{steps: in[0], vocab: ls.Vocab, dim: ls.Dim, pad: ls.PaddingID}
		case "embedding_bag":
			l = &embeddingBag{steps: in[0], vocab: ls.Vocab, dim: ls.Dim, pad: ls.PaddingID}
		case "lstm":
			l = newLSTM(in[0], in[1], ls)
		case "conv2d":
			act := parseAct(ls.Activation)
			if fold {
				act = actLinear
			}
			stride := ls.Stride
			if stride == 0 {
				stride = 1
			}
			l = &conv2d{c: in[0], h: in[1], w: in[2], f: ls.Filters, k: ls.Kernel, stride: stride, pad: ls.Pad,
				ho: out[1], wo: out[2], act: act}
		case "maxpool2d":
			stride := ls.Stride
			if stride == 0 {
				stride = ls.Pool
			}
			l = &maxpool{c: in[0], h: in[1], w: in[2], pool: ls.Pool, stride: stride, ho: out[1], wo: out[2]}
		case "flatten":
			l = flatten{}
		case "dropout":
			l = &dropout{rate: float32(ls.Rate)}
		case "relu", "tanh", "sigmoid", "softmax":
			if i == last && ls.Type == link {
				continue // folded into the loss
			}
			l = &actLayer{act: parseAct(ls.Type), name: ls.Type, width: in[len(in)-1]}
		}
		m.layers = append(m.layers, l)
	}
	linkEmbeddingLSTM(m.layers)
	linkDirect(m.layers)
	linkPoolBack(m.layers)
	// One flat slice for every parameter, one for every gradient.
	total := 0
	for _, l := range m.layers {
		for _, d := range l.params() {
			total += prod(d.shape)
		}
	}
	m.params = make([]float32, total)
	m.grads = make([]float32, total)
	rng := rand.New(rand.NewPCG(seed, 0x5eed0f5ba1))
	off := 0
	for i, l := range m.layers {
		defs := l.params()
		ps := make([][]float32, len(defs))
		gs := make([][]float32, len(defs))
		for j, d := range defs {
			sz := prod(d.shape)
			ps[j] = m.params[off : off+sz : off+sz]
			gs[j] = m.grads[off : off+sz : off+sz]
			off += sz
			initParam(rng, d, ps[j])
			m.tensors = append(m.tensors, Tensor{
				Name:  fmt.Sprintf("layers.%d.%s.%s", i, l.kind(), d.name),
				Shape: append([]int(nil), d.shape...),
				Data:  ps[j],
			})
		}
		l.bind(ps, gs)
	}
	m.inputs = make([][]float32, len(m.layers))
	m.ctx.rng = rand.New(rand.NewPCG(seed, 0xd50f))
	return m, nil
}

func cloneSpec(s Spec) Spec {
	s.Input = append([]int(nil), s.Input...)
	s.Layers = append([]LayerSpec(nil), s.Layers...)
	return s
}

func initParam(r *rand.Rand, d paramDef, p []float32) {
	switch d.init {
	case initZero:
		clear(p)
	case initGlorot, initHe:
		limit := math.Sqrt(6 / float64(d.fanIn+d.fanOut))
		if d.init == initHe {
			limit = math.Sqrt(6 / float64(d.fanIn))
		}
		for i := range p {
			p[i] = float32((2*r.Float64() - 1) * limit)
		}
	case initSmallUniform:
		for i := range p {
			p[i] = float32((2*r.Float64() - 1) * 0.05)
		}
	case initLSTMBias:
		// Gate order i, f, g, o: the forget gate starts open.
		h := len(p) / 4
		clear(p)
		for j := h; j < 2*h; j++ {
			p[j] = 1
		}
	}
}

// Spec returns the spec the model was built from, with the loss filled in.
func (m *Model) Spec() Spec { return cloneSpec(m.spec) }

// Params returns every parameter as one flat slice, in layer order. It is
// the model's own storage: writing it changes the model.
func (m *Model) Params() []float32 { return m.params }

// Grads returns the gradients of the last TrainBatch, laid out as Params.
func (m *Model) Grads() []float32 { return m.grads }

// Tensors returns named views of the parameters, aliasing Params.
func (m *Model) Tensors() []Tensor {
	out := make([]Tensor, len(m.tensors))
	for i, t := range m.tensors {
		out[i] = Tensor{Name: t.Name, Shape: append([]int(nil), t.Shape...), Data: t.Data}
	}
	return out
}

// NumParams is len(Params()).
func (m *Model) NumParams() int {
	if m.quant != nil {
		return m.quant.numParams // int8 weights included, as in the float model
	}
	return len(m.params)
}

// InputSize is the number of floats per sample.
func (m *Model) InputSize() int { return m.inSize }

// OutputSize is the number of logits per sample (1 for a binary model).
func (m *Model) OutputSize() int { return m.outSize }

// LossName is the loss the model trains with.
func (m *Model) LossName() string { return m.loss }

// SetSeed reseeds the dropout RNG.
func (m *Model) SetSeed(seed uint64) { m.ctx.rng = rand.New(rand.NewPCG(seed, 0xd50f)) }

func (m *Model) checkBatch(x []float32, n int) {
	if n <= 0 || len(x) < n*m.inSize {
		panic(fmt.Sprintf("nn: batch of %d samples needs %d input floats, got %d", n, n*m.inSize, len(x)))
	}
}

func (m *Model) forward(x []float32, n int, train bool) []float32 {
	m.ctx.n = n
	m.ctx.train = train
	m.ctx.hasLengths = false
	x = x[:n*m.inSize]
	for i, l := range m.layers {
		m.inputs[i] = x
		x = l.forward(&m.ctx, x)
	}
	return x[:n*m.outSize]
}

// Forward returns the logits (n·OutputSize) for n samples of x, in
// inference mode (no dropout). The slice is owned by the model and valid
// until its next call. Like TrainBatch it panics when n <= 0 or x holds
// fewer than n·InputSize floats: that is a caller's bug, not bad data
// (bad token ids and labels are handled, see embedding and CheckLabels).
func (m *Model) Forward(x []float32, n int) []float32 {
	m.checkBatch(x, n)
	return m.forward(x, n, false)
}

// Loss is the mean loss of logits against labels y, without gradients.
func (m *Model) Loss(logits, y []float32, n int) float32 {
	if m.loss == LossBinaryCE {
		return binaryCE(logits, y, n, nil)
	}
	return softmaxCE(logits, y, n, m.outSize, nil)
}

// TrainBatch runs forward (training mode), the loss and backward for n
// samples, leaving the gradients in Grads (overwritten, not accumulated),
// and returns the mean loss. y holds a class index per sample (as a
// float), or 0/1 for a binary model.
func (m *Model) TrainBatch(x, y []float32, n int) float32 {
	if m.quant != nil {
		panic("nn: an int8 model does not train")
	}
	m.checkBatch(x, n)
	if len(y) < n {
		panic(fmt.Sprintf("nn: batch of %d samples needs %d labels, got %d", n, n, len(y)))
	}
	logits := m.forward(x, n, true)
	m.dlogits = grow(m.dlogits, n*m.outSize)
	var loss float32
	if m.loss == LossBinaryCE {
		loss = binaryCE(logits, y, n, m.dlogits)
	} else {
		loss = m.softmaxLoss(logits, y, n)
	}
	if m.classWeights != nil {
		m.weighGradients(y, n)
	}
	dy := m.dlogits
	for i := len(m.layers) - 1; i >= 0; i-- {
		dy = m.layers[i].backward(&m.ctx, m.inputs[i], dy, i > 0)
	}
	return loss
}

// CheckLabels reports the first label in y[:n] that is not a valid class
// for this model (a class index 0..k-1, or 0/1 for a binary model).
func (m *Model) CheckLabels(y []float32, n int) error {
	k := m.outSize
	if k == 1 {
		k = 2
	}
	for i, v := range y[:n] {
		if label(v, k) < 0 {
			return fmt.Errorf("label %v of sample %d is not a class index in 0..%d", v, i, k-1)
		}
	}
	return nil
}

// Evaluate returns the mean loss and the accuracy over n samples, in
// batches of batch samples (inference mode).
func (m *Model) Evaluate(x, y []float32, n, batch int) (loss, accuracy float64) {
	if n <= 0 {
		return 0, 0
	}
	if batch <= 0 {
		batch = 256
	}
	correct := 0
	for i := 0; i < n; i += batch {
		b := min(batch, n-i)
		logits := m.Forward(x[i*m.inSize:], b)
		loss += float64(m.Loss(logits, y[i:i+b], b)) * float64(b)
		for j := 0; j < b; j++ {
			if float32(Predicted(logits, j, m.outSize)) == y[i+j] {
				correct++
			}
		}
	}
	return loss / float64(n), float64(correct) / float64(n)
}

// SetParams copies p into the model's parameters; p must have NumParams
// values (as read from a model file, or received from a peer).
func (m *Model) SetParams(p []float32) error {
	if m.quant != nil {
		return fmt.Errorf("model is int8: its weights cannot be set from float values")
	}
	if len(p) != len(m.params) {
		return fmt.Errorf("model has %d parameters, got %d values", len(m.params), len(p))
	}
	copy(m.params, p)
	return nil
}

// Clone returns an independent model with the same spec and parameters
// (its own buffers, so the two can run in different goroutines).
func (m *Model) Clone() *Model {
	if m.quant != nil {
		c, err := BuildQuantized(m.spec, m.Tensors(), m.quant.int8s, QuantizeOptions{ActMax: m.quant.actMax})
		if err != nil {
			panic("nn: rebuilding an int8 model failed: " + err.Error())
		}
		return c
	}
	c, err := Build(m.spec, 0)
	if err != nil {
		panic("nn: rebuilding a built spec failed: " + err.Error())
	}
	copy(c.params, m.params)
	return c
}
