package avg

import (
	"math"
	"slices"
)

// clipper keeps the adaptive ClippedGossip radius (He, Karimireddy & Jaggi,
// "Byzantine-robust decentralized learning via ClippedGossip", 2022). The
// paper clips each neighbour's difference to a radius chosen so honest
// neighbours mostly pass; with one random partner per round we estimate it
// from the recent difference norms this peer has seen: radius = multiplier ×
// median. A partner's norm enters the window unless it is StrikeRatio radii
// long (then the vector is rejected outright); liars met now and then sit
// above the median and cannot move it while honest partners are the
// majority. Before the window holds enough history the radius is relative
// to the own vector's norm.
type clipper struct {
	window []float64 // ring of the last clipWindow difference norms (see config.go)
	next   int
}

// radius returns the clip radius and whether it is the warm-up guess.
func (c *clipper) radius(ownNorm, warmup, mult float64) (float64, bool) {
	if len(c.window) < clipMinHist {
		return warmup * ownNorm, true
	}
	s := slices.Clone(c.window)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if med == 0 {
		return warmup * ownNorm, true // identical peers so far tell nothing about honest spread
	}
	return mult * med, false
}

func (c *clipper) observe(norm float64) {
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return
	}
	if len(c.window) < clipWindow {
		c.window = append(c.window, norm)
		return
	}
	c.window[c.next] = norm
	c.next = (c.next + 1) % clipWindow
}
