package nn

// qembedding is embedding with an int8 table and one scale per row (per
// token): a text model's bytes are mostly its embedding, so it is stored
// int8 too. A looked-up row is dequantized into the float output, which
// the next layer quantizes again per row for its own product.
type qembedding struct {
	embedding
	q     []int8
	scale []float32
}

func (l *qembedding) backward(*batchCtx, []float32, []float32, bool) []float32 {
	panic("nn: an int8 model does not train")
}
func (l *qembedding) params() []paramDef    { return nil }
func (l *qembedding) bind(_, _ [][]float32) {}

func (l *qembedding) forward(c *batchCtx, x []float32) []float32 {
	n, d := c.n, l.dim
	l.y = grow(l.y, n*l.steps*d)
	c.lengths = growInt32(c.lengths, n)
	c.hasLengths = true
	for i := 0; i < n; i++ {
		cnt := int32(0)
		for t := 0; t < l.steps; t++ {
			dst := l.y[(i*l.steps+t)*d : (i*l.steps+t+1)*d]
			id := l.id(x[i*l.steps+t])
			if id < 0 {
				clear(dst)
				continue
			}
			cnt++
			s := l.scale[id]
			for j, v := range l.q[id*d : (id+1)*d] {
				dst[j] = float32(v) * s
			}
		}
		c.lengths[i] = max(cnt, 1)
	}
	return l.y
}

// qembeddingBag is embedding_bag with an int8 table, per-row scales.
type qembeddingBag struct {
	embeddingBag
	q     []int8
	scale []float32
}

func (l *qembeddingBag) backward(*batchCtx, []float32, []float32, bool) []float32 {
	panic("nn: an int8 model does not train")
}
func (l *qembeddingBag) params() []paramDef    { return nil }
func (l *qembeddingBag) bind(_, _ [][]float32) {}

func (l *qembeddingBag) forward(c *batchCtx, x []float32) []float32 {
	n, d := c.n, l.dim
	l.y = grow(l.y, n*d)
	for i := 0; i < n; i++ {
		dst := l.y[i*d : (i+1)*d]
		clear(dst)
		cnt := int32(0)
		for _, v := range x[i*l.steps : (i+1)*l.steps] {
			id := l.id(v)
			if id < 0 {
				continue
			}
			cnt++
			s := l.scale[id]
			for j, w := range l.q[id*d : (id+1)*d] {
				dst[j] += float32(w) * s
			}
		}
		if cnt > 1 {
			inv := 1 / float32(cnt)
			for j := range dst {
				dst[j] *= inv
			}
		}
	}
	return l.y
}
