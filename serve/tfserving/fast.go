package tfserving

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"strconv"

	"github.com/shoalmesh/shoal/serve/inference"
)

// The :predict fast path.
//
// Almost every :predict body a benchmark or a client of an image model
// sends is numbers in nested lists: {"instances": [[…], …]} or
// {"inputs": [[…]]}, perhaps named ({"x": …}) and with a signature_name.
// The generic path (DecodePredictRequest, then rowInputs or
// columnarInputs) decodes such a body with encoding/json into an any tree
// holding a json.Number string per number, then walks the tree and parses
// each string again: for one 784-pixel MNIST image about a thousand
// allocations, most of a request's CPU time. scanDense reads the same
// body in one pass over its bytes, numbers straight into one []float32,
// with no allocation per number.
//
// It is a small hand-written scanner over the standard library rather
// than a JSON library: the shapes it takes are few, and what it must
// prove is narrow. It accepts a body only when it can show that the
// generic path would decode it without an error and to the same values:
// the grammar it takes is a strict subset of JSON (no escapes in keys or
// strings, no bytes outside printable ASCII in strings, no duplicate or
// unknown top-level keys, no null, true, false, objects inside tensors
// or strings inside tensors), and its tensors are regular (every list of
// a level the same length, numbers only at the innermost level) and hold
// finite float32 numbers. Anything else, including every body the
// generic path refuses, it gives up on, and the generic path decodes the
// body and words the error exactly as it always did. Likewise
// denseBody.inputs builds model inputs only where rowInputs or
// columnarInputs would succeed with the same inputs; otherwise the
// generic path runs for its error. TestFastMatchesGeneric and
// FuzzFastPredictMatchesGeneric hold the two paths to the same answers.

// maxDenseRank bounds the nesting of a tensor the fast path reads (an
// MNIST instance has rank 2); deeper ones go the generic way.
const maxDenseRank = 16

// denseTensor is one tensor of a denseBody: vals[off:off+n] in row-major
// order, with shape shape.
type denseTensor struct {
	off, n int
	shape  []int
	// key is the one key of the object the tensor was under (a row-form
	// instance {"x": …}, or {"inputs": {"x": …}}); keyed says there was
	// one.
	key   string
	keyed bool
}

// denseBody is a :predict body read by scanDense.
type denseBody struct {
	signature string
	columnar  bool
	// tensors holds one tensor per instance in the row form, exactly one
	// in the columnar form.
	tensors []denseTensor
	vals    []float32
}

// scanDense reads body when it is a :predict body of numeric tensors that
// the generic path would decode without an error (see above); ok is false
// for anything else.
func scanDense(body []byte) (d *denseBody, ok bool) {
	s := scanner{b: body}
	d = &denseBody{}
	s.ws()
	if !s.eat('{') {
		return nil, false
	}
	var seenSig, seenInst, seenInputs bool
	for first := true; ; first = false {
		s.ws()
		if !first {
			if s.eat('}') {
				break
			}
			if !s.eat(',') {
				return nil, false
			}
			s.ws()
		}
		key, ok := s.plainString()
		if !ok {
			return nil, false
		}
		s.ws()
		if !s.eat(':') {
			return nil, false
		}
		s.ws()
		switch string(key) {
		case keySignature:
			if seenSig {
				return nil, false
			}
			seenSig = true
			v, ok := s.plainString()
			if !ok {
				return nil, false
			}
			d.signature = string(v)
		case keyInstances:
			if seenInst || seenInputs {
				return nil, false
			}
			seenInst = true
			if !s.instances(d) {
				return nil, false
			}
		case keyInputs:
			if seenInst || seenInputs {
				return nil, false
			}
			seenInputs = true
			d.columnar = true
			if !s.keyedTensor(d) {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	s.ws()
	if s.i != len(s.b) || !(seenInst || seenInputs) {
		return nil, false
	}
	return d, true
}

// inputs turns d into model inputs for sig, as rowInputs or
// columnarInputs would; ok is false where either would fail, or might,
// and the caller asks the generic path for its error.
func (d *denseBody) inputs(sig inference.Signature, maxBatch int) (_ []inference.Input, ok bool) {
	if sig.Kind == inference.KindText || len(d.tensors) == 0 {
		return nil, false
	}
	name := inputName(sig)
	shapes := imageShapes(sig)
	if d.columnar {
		t := d.tensors[0]
		if t.keyed && t.key != name || len(t.shape) == 0 || t.shape[0] == 0 || t.shape[0] > maxBatch {
			return nil, false
		}
		if !slices.ContainsFunc(shapes, func(s []int) bool { return slices.Equal(t.shape[1:], s) }) {
			return nil, false
		}
		n := sig.InputSize
		if t.n != t.shape[0]*n {
			return nil, false
		}
		flat := d.vals[t.off : t.off+t.n]
		out := make([]inference.Input, t.shape[0])
		for i := range out {
			out[i] = flat[i*n : (i+1)*n : (i+1)*n]
		}
		return out, true
	}
	if len(d.tensors) > maxBatch {
		return nil, false
	}
	keyed := d.tensors[0].keyed
	out := make([]inference.Input, len(d.tensors))
	for i, t := range d.tensors {
		if t.keyed != keyed || keyed && t.key != name || len(t.shape) == 0 {
			return nil, false
		}
		if !slices.ContainsFunc(shapes, func(s []int) bool { return slices.Equal(t.shape, s) }) {
			return nil, false
		}
		out[i] = d.vals[t.off : t.off+t.n : t.off+t.n]
	}
	return out, true
}

// scanner reads JSON from b at i. Every method returns false, or leaves ok
// false, at the first byte it does not take; the fast path then gives up.
type scanner struct {
	b []byte
	i int
	// shapes backs the tensors' shapes.
	shapes []int
}

// ws skips JSON whitespace.
func (s *scanner) ws() {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
}

// eat takes c when it is the next byte.
func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// plainString reads a string of printable ASCII other than '\\': what
// encoding/json decodes to the same bytes.
func (s *scanner) plainString() ([]byte, bool) {
	if !s.eat('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// instances reads the row form's list: at least one instance, each a
// tensor or an object of one key whose value is a tensor.
func (s *scanner) instances(d *denseBody) bool {
	if !s.eat('[') {
		return false
	}
	for first := true; ; first = false {
		s.ws()
		if !first {
			if s.eat(']') {
				return true
			}
			if !s.eat(',') {
				return false
			}
			s.ws()
		}
		if !s.keyedTensor(d) {
			return false
		}
	}
}

// keyedTensor reads a tensor, or an object of one key whose value is a
// tensor, into d.
func (s *scanner) keyedTensor(d *denseBody) bool {
	if !s.eat('{') {
		return s.tensor(d, "", false)
	}
	s.ws()
	key, ok := s.plainString()
	if !ok || string(key) == keyB64 {
		// {"b64": [1]} is an object to the generic path too, but leave
		// every b64 key to it.
		return false
	}
	s.ws()
	if !s.eat(':') {
		return false
	}
	s.ws()
	if !s.tensor(d, string(key), true) {
		return false
	}
	s.ws()
	return s.eat('}')
}

// tensor reads a number or nested lists of numbers whose shape is regular
// (what denseFloats takes without an error) and appends it to d.
func (s *scanner) tensor(d *denseBody, key string, keyed bool) bool {
	if d.vals == nil {
		// Every number but the last is followed by a comma: no regrowth.
		d.vals = make([]float32, 0, bytes.Count(s.b[s.i:], []byte{','})+1)
	}
	t := tensorScan{rank: -1}
	off := len(d.vals)
	if !s.value(d, &t, 0) {
		return false
	}
	if t.rank < 0 {
		return false // cannot happen: a value sets the rank
	}
	start := len(s.shapes)
	s.shapes = append(s.shapes, t.lens[:t.rank]...)
	d.tensors = append(d.tensors, denseTensor{off: off, n: len(d.vals) - off, shape: s.shapes[start:len(s.shapes):len(s.shapes)], key: key, keyed: keyed})
	return true
}

// tensorScan is the shape of the tensor being read: denseFloats takes
// the length of each level from the first list of that level (the chain
// of first elements), and the rank from where that chain ends (a number,
// or an empty list).
type tensorScan struct {
	rank  int // -1 until known
	lens  [maxDenseRank]int
	known [maxDenseRank]bool
}

// value reads one value at level (0: the tensor itself).
func (s *scanner) value(d *denseBody, t *tensorScan, level int) bool {
	if !s.eat('[') {
		// A number, only at the innermost level.
		if t.rank < 0 {
			t.rank = level
		} else if level != t.rank {
			return false
		}
		f, ok := s.number()
		if !ok {
			return false
		}
		d.vals = append(d.vals, f)
		return true
	}
	if level >= maxDenseRank || t.rank >= 0 && level >= t.rank {
		return false
	}
	n := 0
	s.ws()
	switch {
	case s.eat(']'):
		if t.rank < 0 {
			t.rank = level + 1
		}
	case !s.value(d, t, level+1):
		return false
	case t.rank == level+1:
		// A list of numbers: the rest in a loop of its own.
		var ok bool
		if n, ok = s.moreNumbers(d); !ok {
			return false
		}
	default:
		for n = 1; ; n++ {
			s.ws()
			if s.eat(']') {
				break
			}
			if !s.eat(',') {
				return false
			}
			s.ws()
			if !s.value(d, t, level+1) {
				return false
			}
		}
	}
	if !t.known[level] {
		t.lens[level], t.known[level] = n, true
	} else if t.lens[level] != n {
		return false
	}
	return true
}

// moreNumbers reads the rest of a list of numbers after its first one,
// through the closing ']', and returns how many the list holds. It is
// value's loop for the innermost level, where an MNIST body spends its
// time: a bare 0 (most pixels) takes no parsing.
func (s *scanner) moreNumbers(d *denseBody) (int, bool) {
	b, i, vals := s.b, s.i, d.vals
	n := 1
	for {
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			return 0, false
		}
		if b[i] == ']' {
			i++
			break
		}
		if b[i] != ',' {
			return 0, false
		}
		i++
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		n++
		if i+1 < len(b) && b[i] == '0' && (b[i+1] == ',' || b[i+1] == ']') {
			vals = append(vals, 0)
			i++
			continue
		}
		s.i = i
		f, ok := s.number()
		if !ok {
			return 0, false
		}
		vals = append(vals, f)
		i = s.i
	}
	s.i, d.vals = i, vals
	return n, true
}

// isSpace reports whether c is JSON whitespace; most bytes fail the first
// test.
func isSpace(c byte) bool { return c <= ' ' && (c == ' ' || c == '\t' || c == '\n' || c == '\r') }

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// number reads a JSON number and returns it as floatValue would: the
// float64 nearest to it, as a float32; ok is false for a number that
// floatValue refuses (outside float32's finite range) and for text that
// is not a JSON number, which the grammar check here refuses as
// encoding/json does.
//
// A number without an exponent whose digits fit a float64's 53-bit
// mantissa, with at most 22 digits after the point, is one exact integer
// divided by an exact power of ten: one correctly rounded division gives
// the nearest float64, as strconv.ParseFloat does (its own exact fast
// path); MNIST pixels (0, 0.4862745) are all such. Others go to
// strconv.ParseFloat.
func (s *scanner) number() (float32, bool) {
	b, start := s.b, s.i
	i := start
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	var mant uint64
	digits := 0   // significant digits in mant
	exact := true // mant holds every significant digit
	exp := 0      // the power of ten mant is scaled by
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for ; i < len(b) && isDigit(b[i]); i++ {
			if digits < 19 {
				mant = mant*10 + uint64(b[i]-'0')
				digits++
			} else {
				exact = false
			}
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false
		}
		// Eight digits at a time while they fit (leading zeros count
		// here, which only sends a long number to ParseFloat sooner).
		for digits <= 19-8 && i+8 <= len(b) {
			v := binary.LittleEndian.Uint64(b[i:])
			if !eightDigits(v) {
				break
			}
			mant = mant*1e8 + parseEight(v)
			digits += 8
			exp -= 8
			i += 8
		}
		for ; i < len(b) && isDigit(b[i]); i++ {
			exp--
			switch c := b[i]; {
			case mant == 0 && c == '0':
				// a leading zero: only the scale changes
			case digits < 19:
				mant = mant*10 + uint64(c-'0')
				digits++
			default:
				exact = false
			}
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		exact = false
	}
	s.i = i
	if exact && mant < 1<<53 && exp >= -22 {
		f := float64(mant) / pow10[-exp]
		if neg {
			f = -f
		}
		return float32(f), true
	}
	f, err := strconv.ParseFloat(string(b[start:i]), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || math.Abs(f) > math.MaxFloat32 {
		return 0, false
	}
	return float32(f), true
}

// eightDigits reports whether the eight bytes of v (little-endian) are
// all ASCII digits.
func eightDigits(v uint64) bool {
	return v&0xF0F0F0F0F0F0F0F0 == 0x3030303030303030 &&
		(v+0x0606060606060606)&0xF0F0F0F0F0F0F0F0 == 0x3030303030303030
}

// parseEight is the value of eight ASCII digits, the first in v's low
// byte.
func parseEight(v uint64) uint64 {
	v = (v & 0x0F0F0F0F0F0F0F0F) * (10<<8 + 1) >> 8         // pairs
	v = (v & 0x00FF00FF00FF00FF) * (100<<16 + 1) >> 16      // fours
	return (v & 0x0000FFFF0000FFFF) * (10000<<32 + 1) >> 32 // eight
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
