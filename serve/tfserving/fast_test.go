package tfserving

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/serve/inference"
	"github.com/shoalmesh/shoal/serve/inference/inferencetest"
)

// outcome is what a :predict body comes to before the model runs: the
// signature name and form it asks for and its inputs, or an error.
type outcome struct {
	Signature string
	Columnar  bool
	Inputs    []inference.Input
	Err       string
	Status    int
}

// genericOutcome is the path without the fast one: DecodePredictRequest,
// then rowInputs or columnarInputs.
func genericOutcome(body []byte, sig inference.Signature, maxBatch int) outcome {
	req, err := DecodePredictRequest(body)
	if err != nil {
		return outcome{Err: err.Error(), Status: statusOf(err)}
	}
	o := outcome{Signature: req.SignatureName, Columnar: req.Columnar}
	if req.Columnar {
		o.Inputs, err = columnarInputs(req.Inputs, sig, maxBatch)
	} else {
		o.Inputs, err = rowInputs(req.Instances, sig, maxBatch)
	}
	if err != nil {
		o.Inputs, o.Err, o.Status = nil, err.Error(), statusOf(err)
	}
	return o
}

// handlerOutcome is the handler's path (decodePredict, then its inputs);
// scanned says scanDense read the body, fast that its inputs came from
// the fast path too.
func handlerOutcome(body []byte, sig inference.Signature, maxBatch int) (o outcome, scanned, fast bool) {
	p, err := decodePredict(body)
	if err != nil {
		return outcome{Err: err.Error(), Status: statusOf(err)}, false, false
	}
	scanned = p.dense != nil
	o = outcome{Signature: p.signatureName(), Columnar: p.columnar()}
	o.Inputs, err = p.inputs(sig, maxBatch)
	fast = p.dense != nil
	if err != nil {
		o.Inputs, o.Err, o.Status = nil, err.Error(), statusOf(err)
	}
	return o, scanned, fast
}

// sameOutcome compares two outcomes, floats bit for bit (0 and -0
// differ).
func sameOutcome(a, b outcome) bool {
	if a.Signature != b.Signature || a.Columnar != b.Columnar || a.Err != b.Err || a.Status != b.Status || len(a.Inputs) != len(b.Inputs) {
		return false
	}
	for i := range a.Inputs {
		x, xok := a.Inputs[i].([]float32)
		y, yok := b.Inputs[i].([]float32)
		if !xok || !yok {
			if !reflect.DeepEqual(a.Inputs[i], b.Inputs[i]) {
				return false
			}
			continue
		}
		if !sameFloats(x, y) {
			return false
		}
	}
	return true
}

func sameFloats(x, y []float32) bool {
	if len(x) != len(y) {
		return false
	}
	for j := range x {
		if math.Float32bits(x[j]) != math.Float32bits(y[j]) {
			return false
		}
	}
	return true
}

// equivalenceSigs are the signatures the two paths are compared under:
// the tests' small shapes, so that short bodies reach the model inputs.
func equivalenceSigs() []inference.Signature {
	img := func(shape []int, size int) inference.Signature {
		return inference.Signature{Kind: inference.KindImage, InputShape: shape, InputSize: size, Labels: inferencetest.Digits}
	}
	return []inference.Signature{
		inferencetest.MNISTSignature(),
		img([]int{2, 2}, 4),
		img([]int{2}, 2),
		img(nil, 3),
		img([]int{1, 2, 2}, 4),
		img([]int{1}, 1),
		inferencetest.TextSignature(),
	}
}

// checkScan checks what scanDense reads against the generic decoder
// whatever the model: when it takes a body, DecodePredictRequest takes it
// too, with the same signature and form, and each tensor is what
// denseFloats (or floatValue, for a bare number) reads from the generic
// value.
func checkScan(t *testing.T, body []byte) (scanned bool) {
	t.Helper()
	d, ok := scanDense(body)
	if !ok {
		return false
	}
	req, err := DecodePredictRequest(body)
	if err != nil {
		t.Fatalf("scanDense took %q, which the generic decoder refuses: %v", body, err)
	}
	if req.SignatureName != d.signature || req.Columnar != d.columnar {
		t.Fatalf("%q: scanDense read signature %q columnar %v, the generic decoder %q %v", body, d.signature, d.columnar, req.SignatureName, req.Columnar)
	}
	values := req.Instances
	if req.Columnar {
		values = []Value{req.Inputs}
	}
	if len(values) != len(d.tensors) {
		t.Fatalf("%q: %d tensors, want %d", body, len(d.tensors), len(values))
	}
	for i, tn := range d.tensors {
		v := values[i]
		if tn.keyed {
			obj, ok := v.(map[string]any)
			if !ok || len(obj) != 1 {
				t.Fatalf("%q: tensor %d keyed %q, generic value %#v", body, i, tn.key, v)
			}
			if v, ok = obj[tn.key]; !ok {
				t.Fatalf("%q: tensor %d keyed %q, generic value %#v", body, i, tn.key, obj)
			}
		}
		got := d.vals[tn.off : tn.off+tn.n]
		if len(tn.shape) == 0 {
			f, err := floatValue(v)
			if err != nil || len(got) != 1 || math.Float32bits(got[0]) != math.Float32bits(f) {
				t.Fatalf("%q: tensor %d is %v, the generic value %v (%v)", body, i, got, f, err)
			}
			continue
		}
		flat, shape, err := denseFloats(v)
		if err != nil {
			t.Fatalf("%q: tensor %d read, the generic path refuses it: %v", body, i, err)
		}
		if !reflect.DeepEqual(shape, tn.shape) || !sameFloats(flat, got) {
			t.Fatalf("%q: tensor %d is %v shape %v, the generic path's %v shape %v", body, i, got, tn.shape, flat, shape)
		}
	}
	return true
}

// checkSamePaths checks body under every signature and two batch limits;
// it returns whether scanDense read it and whether the fast path built
// the inputs under any signature.
func checkSamePaths(t *testing.T, body []byte) (scanned, fast bool) {
	t.Helper()
	scanned = checkScan(t, body)
	for _, sig := range equivalenceSigs() {
		for _, maxBatch := range []int{8, 2} {
			want := genericOutcome(body, sig, maxBatch)
			got, sc, f := handlerOutcome(body, sig, maxBatch)
			if sc != scanned {
				t.Fatalf("%q: decodePredict scanned %v, scanDense %v", body, sc, scanned)
			}
			fast = fast || f
			if !sameOutcome(got, want) {
				t.Fatalf("%q with %v (max batch %d):\nfast path %+v\ngeneric   %+v", body, sig.InputShape, maxBatch, got, want)
			}
		}
	}
	return scanned, fast
}

// fastBodies all go the fast way: scanDense reads them and, for at least
// one of equivalenceSigs, builds the inputs.
var fastBodies = []string{
	`{"instances":[[1,2],[3,4]]}`,
	`{"instances":[[[1,2],[3,4]]]}`,
	`{"instances":[[1,2,3,4],[[1,2],[3,4]]]}`,
	`{"instances":[{"x":[1,2,3,4]}]}`,
	`{"instances":[{"x":[[1,2],[3,4]]},{"x":[5,6,7,8]}]}`,
	`{"instances":[[[[1,2],[3,4]]]]}`,
	`{"instances":[[7]]}`,
	`{"inputs":[[1,2,3,4]]}`,
	`{"inputs":[[[1,2],[3,4]],[[5,6],[7,8]]]}`,
	`{"inputs":{"x":[[1,2,3,4]]}}`,
	`{"inputs":[[1,2],[3,4],[5,6]]}`,
	`{"signature_name":"serving_default","instances":[[1,2]]}`,
	`{"instances":[[1,2]],"signature_name":""}`,
	`{"signature_name":"other","inputs":[[1,2]]}`,
	`{"signature_name":"a b!#$%&'()*+,-./:;<=>?@[]^_{|}~","instances":[[1,2]]}`,
	" \n{ \"instances\" : [ [ 1 , 2 ] , [\t3,\r4 ] ] } \r\n\t",
	`{"instances":[[-0,0]]}`,
	`{"instances":[[-0.0,0.0]]}`,
	`{"instances":[[0.5,-0.5]]}`,
	`{"instances":[[1e3,1E-3]]}`,
	`{"instances":[[1e+2,-1e-2]]}`,
	`{"instances":[[340282346638528859811704183484516925440,1]]}`,
	`{"instances":[[1.4e-45,1e-46]]}`,
	`{"instances":[[1e-400,-1e-400]]}`,
	`{"instances":[[0.1,0.2]]}`,
	`{"instances":[[0.30000000000000004,0.99215686]]}`,
	`{"instances":[[123456789012345678901234567890,1]]}`,
	`{"instances":[[9007199254740993,9007199254740992]]}`,
	`{"instances":[[18446744073709551615,18446744073709551616]]}`,
	`{"instances":[[1234567890123456789,12345678901234567890]]}`,
	`{"instances":[[0.000000000000000000001,0.0000000000000000000001]]}`,
	`{"instances":[[0.00000000000000000000001,0.0000000000000000000000000000000000000000000001]]}`,
	`{"instances":[[0.12345678901234567890123,4503599627370497.5]]}`,
	`{"instances":[[1.00000000000000011102230246251565404236316680908203125,1.0000000596046447753906250]]}`,
	`{"instances":[[1.000000059604644775390625,1.00000005960464477539062500001]]}`,
	`{"instances":[[16777217,33554435]]}`,
	`{"instances":[[100000000000000000000000,1e22]]}`,
	`{"instances":[[0.0000001,1e-7]]}`,
	`{"instances":[[10,100]]}`,
}

// otherBodies are the rest: malformed bodies, bodies the fast path leaves
// to the generic one, and bodies it reads whose inputs the generic path
// refuses.
var otherBodies = []string{
	// Shapes the models refuse, or ragged lists.
	`{"instances":[[1,2],[3]]}`,
	`{"instances":[[[1,2],[3]]]}`,
	`{"instances":[[[1,2],3]]}`,
	`{"instances":[[1,[2]]]}`,
	`{"instances":[[[],[1]]]}`,
	`{"instances":[[[1],[]]]}`,
	`{"instances":[[[],1]]}`,
	`{"instances":[[]]}`,
	`{"instances":[[],[]]}`,
	`{"instances":[[[]]]}`,
	`{"instances":[[[],[]]]}`,
	`{"inputs":[[]]}`,
	`{"inputs":[[[]]]}`,
	`{"instances":[3]}`,
	`{"instances":[1,2]}`,
	`{"inputs":5}`,
	`{"inputs":[1,2]}`,
	`{"inputs":[[1,2],[3]]}`,
	`{"instances":[[1,2],[3,4],[5,6]]}`,
	`{"instances":[[1],[2],[3],[4],[5],[6],[7],[8],[9]]}`,
	`{"inputs":[[1],[2],[3],[4],[5],[6],[7],[8],[9]]}`,
	`{"instances":[[1,2,3,4,5]]}`,
	`{"instances":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}`,
	// Numbers outside float32 or JSON.
	`{"instances":[[NaN]]}`,
	`{"instances":[[Infinity]]}`,
	`{"instances":[[1,-Infinity]]}`,
	`{"instances":[[nan]]}`,
	`{"instances":[[1e39]]}`,
	`{"instances":[[-1e39]]}`,
	`{"instances":[[1e400]]}`,
	`{"instances":[[3.4028236e38]]}`,
	// floatValue reads the float64 nearest, above float32's largest.
	`{"instances":[[3.4028235e38,-3.4028235e38]]}`,
	`{"instances":[[340282356779733661637539395458142568448]]}`,
	`{"instances":[[01]]}`,
	`{"instances":[[1.]]}`,
	`{"instances":[[.5]]}`,
	`{"instances":[[+1]]}`,
	`{"instances":[[-]]}`,
	`{"instances":[[1e]]}`,
	`{"instances":[[1e+]]}`,
	`{"instances":[[--1]]}`,
	`{"instances":[[0x10]]}`,
	`{"instances":[[1.5.3]]}`,
	`{"instances":[[1ee3]]}`,
	`{"instances":[[- 1]]}`,
	`{"instances":[[00]]}`,
	`{"instances":[[-01]]}`,
	`{"instances":[[1,0]]}`,
	`{"instances":[[0,]]}`,
	`{"instances":[[0 0]]}`,
	`{"instances":[[0a]]}`,
	`{"instances":[[0`,
	`{"instances":[[1`,
	// Other JSON values in tensors.
	`{"instances":[["a",1]]}`,
	`{"instances":[[1,"a"]]}`,
	`{"instances":[[null]]}`,
	`{"instances":[[true,false]]}`,
	`{"instances":[[{"b64":"AAAA"}]]}`,
	`{"instances":[[1,{"x":1}]]}`,
	`{"instances":["a","b"]}`,
	`{"instances":[{"b64":"aGk="}]}`,
	`{"instances":[{"b64":[1,2]}]}`,
	`{"inputs":{"text":["a"]}}`,
	`{"inputs":["a"]}`,
	// Keys.
	`{"instances":[{"x":[1,2,3,4]},[1,2,3,4]]}`,
	`{"instances":[[1,2,3,4],{"x":[1,2,3,4]}]}`,
	`{"instances":[{"y":[1,2,3,4]}]}`,
	`{"instances":[{"x":[1,2,3,4],"y":1}]}`,
	`{"instances":[{"x":[1,2,3,4]},{"y":[1,2,3,4]}]}`,
	`{"instances":[{"x":[1,2],"x":[3,4]}]}`,
	`{"instances":[{}]}`,
	`{"instances":[{"x":[1,2]}`,
	`{"instances":[{"x" [1,2]}]}`,
	`{"instances":[{"\u0078":[1,2]}]}`,
	`{"inputs":{}}`,
	`{"inputs":{"x":[[1,2,3,4]],"y":[1]}}`,
	`{"inputs":{"y":[[1,2,3,4]]}}`,
	`{"inputs":{"x":[[1,2]],"x":[[3,4]]}}`,
	`{"instances":[[1]],"instances":[[2]]}`,
	`{"inputs":[[1]],"inputs":[[2]]}`,
	`{"signature_name":"a","signature_name":"b","instances":[[1]]}`,
	`{"signature_name":1,"instances":[[1]]}`,
	`{"signature_name":null,"instances":[[1]]}`,
	`{"signature_name":"serving\u005fdefault","instances":[[1,2]]}`,
	`{"signature_name":"é","instances":[[1,2]]}`,
	"{\"signature_name\":\"\xff\",\"instances\":[[1,2]]}",
	"{\"signature_name\":\"a\tb\",\"instances\":[[1,2]]}",
	"{\"signature_name\":\"a\x7fb\",\"instances\":[[1,2]]}",
	`{"instan\u0063es":[[1,2]]}`,
	`{"instances":[[1,2]],"extra":1}`,
	`{"instances":[[1,2]],"x":{"y":NaN}}`,
	`{"extra":[1],"instances":[[1,2]]}`,
	`{"Instances":[[1,2]]}`,
	// The body's structure.
	`{"instances":[[1]],"inputs":[[1]]}`,
	`{"inputs":[[1]],"instances":[[1]]}`,
	`{}`,
	`[]`,
	`[[1,2]]`,
	``,
	` `,
	`null`,
	`"x"`,
	`{"instances":[]}`,
	`{"instances":{}}`,
	`{"instances":null}`,
	`{"instances":1}`,
	`{"inputs":null}`,
	`{"inputs":[]}`,
	`{"instances":[[1]]} {}`,
	`{"instances":[[1]]}x`,
	`{"instances":[[1]]}]`,
	`{"instances":[[1]]`,
	`{"instances":[[1]`,
	`{"instances":[[1]],}`,
	`{,"instances":[[1]]}`,
	`{"instances":[[1,]]}`,
	`{"instances":[[1 2]]}`,
	`{"instances":[[,1]]}`,
	`{"instances":[,[1]]}`,
	`{"instances":[[1],]}`,
	`{"instances" [[1]]}`,
	`{"instances"::[[1]]}`,
	`{instances:[[1]]}`,
	`{'instances':[[1]]}`,
	"\xef\xbb\xbf{\"instances\":[[1,2]]}",
	"{\"instances\":[[1,\v2]]}",
	"{\"instances\":[[1,\f2]]}",
	"{\"instances\":[[1,\u00a02]]}",
	"\u00a0{\"instances\":[[1,2]]}",
	"{\"instances\":[[1,2]]}\u00a0",
	"{\"instances\":[[1,2]]}\x00",
}

func TestFastMatchesGeneric(t *testing.T) {
	for i, body := range fastBodies {
		t.Run(fmt.Sprintf("fast%d", i), func(t *testing.T) {
			scanned, fast := checkSamePaths(t, []byte(body))
			if !scanned || !fast {
				t.Fatalf("%q: scanned %v, inputs from the fast path %v; want both", body, scanned, fast)
			}
		})
	}
	for i, body := range otherBodies {
		t.Run(fmt.Sprintf("other%d", i), func(t *testing.T) {
			checkSamePaths(t, []byte(body))
		})
	}
	// What the benchmark sends: MNIST-like images, flat and 28×28, in
	// both forms.
	for seed := range uint64(8) {
		body := mnistLikeBody(seed)
		inner := string(body[len(`{"instances":[`) : len(body)-2])
		var rows []string
		for r := range 28 {
			rows = append(rows, "["+strings.Join(strings.Split(inner[1:len(inner)-1], ",")[r*28:(r+1)*28], ",")+"]")
		}
		square := "[" + strings.Join(rows, ",") + "]"
		for _, b := range []string{string(body), `{"instances":[` + square + `,` + inner + `]}`, `{"inputs":[` + square + `]}`, `{"inputs":{"x":[` + inner + `,` + inner + `]}}`} {
			scanned, _ := checkSamePaths(t, []byte(b))
			o, _, fast := handlerOutcome([]byte(b), inferencetest.MNISTSignature(), DefaultMaxBatch)
			if !scanned || !fast || o.Err != "" {
				t.Fatalf("an MNIST body did not go the fast way: scanned %v, fast %v, %v", scanned, fast, o.Err)
			}
		}
	}
}

// TestFastNumbers checks the number reader against floatValue on random
// decimals of every length and scale.
func TestFastNumbers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for range 200000 {
		var s string
		switch r.IntN(4) {
		case 0:
			s = strconv.FormatFloat(float64(float32(r.NormFloat64()*math.Pow(10, float64(r.IntN(80)-40)))), 'g', -1, 32)
		case 1:
			s = strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(40)-20)), 'f', r.IntN(30), 64)
		case 2:
			s = strconv.FormatUint(r.Uint64()>>r.IntN(64), 10) + "." + strconv.FormatUint(r.Uint64()>>r.IntN(64), 10)
		default:
			s = strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(700)-350)), 'e', r.IntN(20), 64)
		}
		sc := scanner{b: []byte(s)}
		got, ok := sc.number()
		want, err := floatValue(json.Number(s))
		if ok != (err == nil) || ok && math.Float32bits(got) != math.Float32bits(want) || ok && sc.i != len(s) {
			t.Fatalf("%s: fast %v %v (read %d bytes), floatValue %v %v", s, got, ok, sc.i, want, err)
		}
	}
}

// FuzzFastPredictMatchesGeneric checks that the handler's :predict path
// (scanDense and its inputs, falling back to the generic decoder) gives
// exactly what the generic path gives, inputs or error, for any body.
func FuzzFastPredictMatchesGeneric(f *testing.F) {
	for _, s := range fastBodies {
		f.Add([]byte(s))
	}
	for _, s := range otherBodies {
		f.Add([]byte(s))
	}
	f.Add(mnistLikeBody(1))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSamePaths(t, body)
	})
}

func TestParseEight(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for i := range 100000 {
		n := uint64(i)
		if i >= 1000 {
			n = r.Uint64N(1e8)
		}
		s := fmt.Sprintf("%08d", n)
		v := binary.LittleEndian.Uint64([]byte(s))
		if !eightDigits(v) || parseEight(v) != n {
			t.Fatalf("%s: digits %v, value %d", s, eightDigits(v), parseEight(v))
		}
		b := []byte(s)
		b[r.IntN(8)] = byte(r.IntN(256))
		_, err := strconv.ParseUint(string(b), 10, 64)
		if got := eightDigits(binary.LittleEndian.Uint64(b)); got != (err == nil) {
			t.Fatalf("%q: eightDigits %v, strconv.ParseUint's error %v", b, got, err)
		}
	}
}
