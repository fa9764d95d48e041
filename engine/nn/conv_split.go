package nn

import "github.com/shoalmesh/shoal/engine/par"

// Under --threads a convolution splits the batch by samples (par.Range), each
// part running its samples' chunks — im2col, the products, bias and ReLU,
// the ReLU mask and col2im — on its own buffers, so that all of it runs on
// every core and not only the products. The weight and bias gradients are
// summed from one partial per part, in part order.

// growParts makes room for the buffers of parts parts; backward passes also
// need the parts' gradient partials.
func (l *conv2d) growParts(parts int, backward bool) {
	l.parts = growConvBufs(l.parts, parts)
	if backward {
		ckk := l.c * l.k * l.k
		for i := 1; i < parts; i++ {
			l.parts[i].dwt = grow(l.parts[i].dwt, ckk*l.f)
			l.parts[i].db = grow(l.parts[i].db, l.f)
		}
	}
}

func growConvBufs(p []convBufs, n int) []convBufs {
	for len(p) < n {
		p = append(p, convBufs{})
	}
	return p
}

// convSplit is one forward or backward pass of a convolution cut by samples.
type convSplit struct {
	l        *conv2d
	backward bool
	direct   bool // an inference pass on the direct path
	x, dy    []float32
	n        int
	needDx   bool
}

func (s *convSplit) RunPart(i, n int) {
	l := s.l
	lo, hi := par.Range(i, n, s.n)
	b := &l.parts[i]
	if s.direct {
		if lo < hi {
			l.directSamples(s.x, lo, hi, i)
		}
		return
	}
	if !s.backward {
		if lo < hi {
			l.forwardSamples(s.x, lo, hi, b, sgemmSerial)
		}
		return
	}
	dwt, db := l.dwt, l.db
	if i > 0 {
		dwt, db = b.dwt, b.db
	}
	if lo == hi { // no samples for this part: it adds nothing
		clear(dwt)
		clear(db)
		return
	}
	l.backwardSamples(s.x, s.dy, lo, hi, s.needDx, b, dwt, db, sgemmSerial)
}
