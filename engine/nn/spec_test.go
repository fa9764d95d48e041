package nn

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseSpecJSONAndYAML(t *testing.T) {
	j := `{"name":"t","input":[1,28,28],"layers":[
	  {"type":"conv2d","filters":4,"kernel":3,"pad":1,"activation":"relu"},
	  {"type":"maxpool2d","pool":2},
	  {"type":"flatten"},
	  {"type":"dropout","rate":0.25},
	  {"type":"dense","units":10}]}`
	y := `
name: t
input: [1, 28, 28]
layers:
  - {type: conv2d, filters: 4, kernel: 3, pad: 1, activation: relu}
  - type: maxpool2d
    pool: 2
  - type: flatten
  - {type: dropout, rate: 0.25}
  - {type: dense, units: 10}
`
	a, err := ParseSpec([]byte(j))
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	b, err := ParseSpec([]byte(y))
	if err != nil {
		t.Fatalf("YAML: %v", err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("JSON and YAML differ:\n%+v\n%+v", a, b)
	}
	m := mustBuild(t, a, 1)
	if m.InputSize() != 784 || m.OutputSize() != 10 || m.LossName() != LossSoftmaxCE {
		t.Fatalf("in %d out %d loss %s", m.InputSize(), m.OutputSize(), m.LossName())
	}
	// A model's spec round-trips through JSON (it is saved in model files).
	data, _ := json.Marshal(m.Spec())
	c, err := ParseSpec(data)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if !reflect.DeepEqual(c, m.Spec()) {
		t.Fatalf("round trip differs:\n%+v\n%+v", c, m.Spec())
	}
}

func TestParseSpecMalformed(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty", "", "empty"},
		{"spaces", "  \n ", "empty"},
		{"too big", `{"input":[1],"layers":[]}` + strings.Repeat(" ", MaxSpecBytes), "limit"},
		{"bad json", `{"input":[784],`, "JSON"},
		{"trailing json", `{"input":[784],"layers":[{"type":"dense","units":2}]} {}`, "trailing"},
		{"unknown field json", `{"input":[784],"layers":[{"type":"dense","units":2,"unitz":3}]}`, "unitz"},
		{"unknown field yaml", "input: [4]\nlayers:\n  - {type: dense, units: 2, color: red}\n", "color"},
		{"two yaml docs", "input: [4]\nlayers: [{type: dense, units: 2}]\n---\ninput: [3]\n", "more than one"},
		{"yaml not a map", "- 1\n- 2\n", "YAML"},
		{"yaml string units", "input: [4]\nlayers: [{type: dense, units: many}]\n", "YAML"},
		{"no input", `{"layers":[{"type":"dense","units":2}]}`, "input shape is missing"},
		{"input 4d", `{"input":[1,2,3,4],"layers":[{"type":"dense","units":2}]}`, "at most 3"},
		{"input zero", `{"input":[0],"layers":[{"type":"dense","units":2}]}`, "each dimension"},
		{"input negative", `{"input":[-5],"layers":[{"type":"dense","units":2}]}`, "each dimension"},
		{"input huge", `{"input":[1000000,1000000],"layers":[{"type":"dense","units":2}]}`, "floats per sample"},
		{"no layers", `{"input":[4],"layers":[]}`, "no layers"},
		{"missing type", `{"input":[4],"layers":[{"units":2}]}`, "type is missing"},
		{"unknown type", `{"input":[4],"layers":[{"type":"gru","units":2}]}`, `unknown type "gru"`},
		{"dense no units", `{"input":[4],"layers":[{"type":"dense"}]}`, "units must be"},
		{"dense bad activation", `{"input":[4],"layers":[{"type":"dense","units":2,"activation":"swish"}]}`, "unknown activation"},
		{"softmax on conv", `{"input":[1,4,4],"layers":[{"type":"conv2d","filters":2,"kernel":3,"activation":"softmax"},{"type":"flatten"},{"type":"dense","units":2}]}`, "flatten first"},
		{"activation on lstm", `{"input":[4,3],"layers":[{"type":"lstm","units":2,"activation":"relu"}]}`, "only allowed on dense and conv2d"},
		{"embedding not first", `{"input":[4],"layers":[{"type":"dense","units":3},{"type":"embedding","vocab":5,"dim":2}]}`, "first layer"},
		{"embedding 2d input", `{"input":[4,2],"layers":[{"type":"embedding","vocab":5,"dim":2}]}`, "1-D token ids"},
		{"embedding no vocab", `{"input":[4],"layers":[{"type":"embedding","dim":2}]}`, "vocab must be"},
		{"embedding bad padding", `{"input":[4],"layers":[{"type":"embedding","vocab":5,"dim":2,"padding_id":5},{"type":"lstm","units":2},{"type":"dense","units":1}]}`, "padding_id 5"},
		{"lstm flat input", `{"input":[4],"layers":[{"type":"lstm","units":2}]}`, "sequence"},
		{"conv on flat", `{"input":[784],"layers":[{"type":"conv2d","filters":2,"kernel":3}]}`, "[channels, height, width]"},
		{"conv kernel too big", `{"input":[1,2,2],"layers":[{"type":"conv2d","filters":2,"kernel":5,"pad":1},{"type":"flatten"},{"type":"dense","units":2}]}`, "larger than"},
		{"conv pad too big", `{"input":[1,8,8],"layers":[{"type":"conv2d","filters":2,"kernel":3,"pad":3}]}`, "pad must be"},
		{"conv negative stride", `{"input":[1,8,8],"layers":[{"type":"conv2d","filters":2,"kernel":3,"stride":-1}]}`, "stride must be"},
		{"pool too big", `{"input":[1,2,2],"layers":[{"type":"maxpool2d","pool":3}]}`, "larger than"},
		{"pool zero", `{"input":[1,4,4],"layers":[{"type":"maxpool2d"}]}`, "pool must be"},
		{"dropout rate 1", `{"input":[4],"layers":[{"type":"dropout","rate":1},{"type":"dense","units":2}]}`, "rate must be"},
		{"dropout rate negative", `{"input":[4],"layers":[{"type":"dropout","rate":-0.1},{"type":"dense","units":2}]}`, "rate must be"},
		{"rate on dense", `{"input":[4],"layers":[{"type":"dense","units":2,"rate":0.5}]}`, "only for dropout"},
		{"return_sequences on dense", `{"input":[4],"layers":[{"type":"dense","units":2,"return_sequences":true}]}`, "only for lstm"},
		{"output not flat", `{"input":[1,4,4],"layers":[{"type":"conv2d","filters":2,"kernel":3}]}`, "must be flat"},
		{"no params", `{"input":[4],"layers":[{"type":"relu"}]}`, "no trainable parameters"},
		{"too many params", `{"input":[1000000],"layers":[{"type":"dense","units":1000}]}`, "parameters"},
		{"unknown loss", `{"input":[4],"layers":[{"type":"dense","units":2}],"loss":"mse"}`, `unknown loss "mse"`},
		{"bce with 3 outputs", `{"input":[4],"layers":[{"type":"dense","units":3}],"loss":"binary_cross_entropy"}`, "needs 1 output"},
		{"softmax with 1 output", `{"input":[4],"layers":[{"type":"dense","units":1}],"loss":"softmax_cross_entropy"}`, "at least 2"},
		{"too many layers", `{"input":[4],"layers":[` + strings.Repeat(`{"type":"relu"},`, MaxLayers) + `{"type":"dense","units":2}]}`, "layers, at most"},
		{"float units", `{"input":[4],"layers":[{"type":"dense","units":2.5}]}`, "JSON"},
		{"yaml alias bomb", "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n", "YAML"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(c.in))
			if err == nil {
				t.Fatalf("accepted, want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestPresets(t *testing.T) {
	want := map[string]struct {
		in, out, params int
		loss            string
	}{
		"logreg":    {784, 10, 7850, LossSoftmaxCE},
		"mlp":       {784, 10, 101770, LossSoftmaxCE},
		"cnn":       {784, 10, 160 + 4640 + 1568*128 + 128 + 1290, LossSoftmaxCE},
		"lstm-text": {50, 1, 10000*32 + 4*32*(32+32) + 128 + 33, LossBinaryCE},
		"seed-text": {50, 1, 10000*8 + 4*32*(8+32) + 128 + 33, LossBinaryCE},
		// Vocab counts the n-gram buckets here (train passes rows + buckets).
		"text-ngram": {50, 1, 10000*16 + 17, LossBinaryCE},
	}
	if len(PresetNames()) != len(want) {
		t.Fatalf("PresetNames %v", PresetNames())
	}
	for _, name := range PresetNames() {
		s := mustPreset(t, name, PresetOptions{Vocab: 10000, MaxLen: 50})
		m := mustBuild(t, s, 1)
		w := want[name]
		if m.InputSize() != w.in || m.OutputSize() != w.out || m.NumParams() != w.params || m.LossName() != w.loss {
			t.Errorf("%s: in %d out %d params %d loss %s, want %+v", name, m.InputSize(), m.OutputSize(), m.NumParams(), m.LossName(), w)
		}
	}
	s := mustPreset(t, "lstm-text", PresetOptions{Vocab: 100, MaxLen: 20, Classes: 5})
	if m := mustBuild(t, s, 1); m.OutputSize() != 5 || m.LossName() != LossSoftmaxCE {
		t.Errorf("lstm-text with 5 classes: out %d loss %s", m.OutputSize(), m.LossName())
	}
	if _, err := Preset("lstm-text", PresetOptions{}); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("lstm-text without vocab: %v", err)
	}
	if _, err := Preset("resnet", PresetOptions{}); err == nil || !strings.Contains(err.Error(), "unknown preset") {
		t.Errorf("unknown preset: %v", err)
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, name := range PresetNames() {
		s, _ := Preset(name, PresetOptions{Vocab: 30, MaxLen: 6})
		b, _ := json.Marshal(s)
		f.Add(b)
	}
	f.Add([]byte("input: [2, 5, 5]\nlayers:\n  - {type: conv2d, filters: 2, kernel: 3, pad: 1}\n  - {type: maxpool2d, pool: 2}\n  - {type: flatten}\n  - {type: dense, units: 3}\n"))
	f.Add([]byte(`{"input":[3,4],"layers":[{"type":"lstm","units":2,"return_sequences":true},{"type":"flatten"},{"type":"dropout","rate":0.5},{"type":"dense","units":2,"activation":"softmax"}]}`))
	f.Add([]byte(`{"input":[6],"layers":[{"type":"embedding","vocab":9,"dim":3},{"type":"lstm","units":4,"pooling":"max","bidirectional":true},{"type":"dense","units":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec(data)
		if err != nil {
			return
		}
		// Whatever parses must build and run, unless it is big (the
		// fuzzer should not allocate gigabytes).
		p, err := s.plan()
		if err != nil {
			t.Fatalf("parsed spec fails validation: %v", err)
		}
		big := p.params > 1<<16
		for _, o := range p.out {
			if prod(o) > 1<<14 {
				big = true
			}
		}
		if big {
			return
		}
		m, err := Build(s, 1)
		if err != nil {
			t.Fatalf("Build of a valid spec: %v", err)
		}
		x := make([]float32, 2*m.InputSize())
		for i := range x {
			x[i] = float32(i % 3)
		}
		m.TrainBatch(x, []float32{0, 1}, 2)
		m.Forward(x, 1)
	})
}
