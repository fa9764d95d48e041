package nn

// embeddingBag is an embedding followed by a mean over the sample's real
// (non-padding) ids: a [max_len] row of ids becomes one [dim] vector. With
// hashed word and character n-grams as ids and a linear layer on top it is
// fastText's classifier (Joulin et al., "Bag of Tricks for Efficient Text
// Classification", 2016): no recurrence, so its cost per text is one row
// read per id, whatever the script. Ids are checked as by embedding; a text
// with no real id gives the zero vector.
type embeddingBag struct {
	steps, vocab, dim, pad int
	w, dw                  []float32
	y                      []float32
	counts                 []int32 // real ids per sample, from the forward pass
}

func (l *embeddingBag) kind() string { return "embedding_bag" }

// Same start as embedding (U(-0.05, 0.05)): rare n-grams stay near zero.
func (l *embeddingBag) params() []paramDef {
	return []paramDef{{name: "weight", shape: []int{l.vocab, l.dim}, init: initSmallUniform}}
}

func (l *embeddingBag) bind(p, g [][]float32) {
	l.w, l.dw = p[0], g[0]
	clear(l.w[l.pad*l.dim : (l.pad+1)*l.dim])
}

// id returns the row for token value v, or -1 for padding/invalid.
func (l *embeddingBag) id(v float32) int { return tokenRow(v, l.vocab, l.pad) }

func (l *embeddingBag) forward(c *batchCtx, x []float32) []float32 {
	n, d := c.n, l.dim
	l.y = grow(l.y, n*d)
	l.counts = growInt32(l.counts, n)
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
			for j, w := range l.w[id*d : (id+1)*d] {
				dst[j] += w
			}
		}
		l.counts[i] = cnt
		if cnt > 1 {
			inv := 1 / float32(cnt)
			for j := range dst {
				dst[j] *= inv
			}
		}
	}
	return l.y
}

func (l *embeddingBag) backward(c *batchCtx, x, dy []float32, needDx bool) []float32 {
	clear(l.dw)
	d := l.dim
	for i := 0; i < c.n; i++ {
		if l.counts[i] == 0 {
			continue
		}
		inv := 1 / float32(l.counts[i])
		g := dy[i*d : (i+1)*d]
		for _, v := range x[i*l.steps : (i+1)*l.steps] {
			id := l.id(v)
			if id < 0 {
				continue
			}
			row := l.dw[id*d : (id+1)*d]
			for j, gv := range g {
				row[j] += gv * inv
			}
		}
	}
	return nil
}
