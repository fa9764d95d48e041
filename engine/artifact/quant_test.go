package artifact_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelfile"
	"github.com/shoalmesh/shoal/engine/nn"
)

// TestQuantizedRoundTrip: an int8 artifact saves with I8 tensors and its
// scheme in the metadata, loads (hash verified) as an int8 model that
// predicts what it predicted before saving, and a float file still loads
// as float.
func TestQuantizedRoundTrip(t *testing.T) {
	for _, a := range []*artifact.Artifact{imageArtifact(t), trainChinese(t, 1e-2)} {
		q, err := a.Quantize(nn.QuantizeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "q.safetensors")
		sum, err := q.Save(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := artifact.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if !b.Model.Quantized() || b.Hash != sum {
			t.Fatalf("loaded quantized=%v hash %s, saved %s", b.Model.Quantized(), b.Hash, sum)
		}
		if qs, ok := b.Quantization(); !ok || qs.Scheme != artifact.SchemeInt8 {
			t.Fatalf("scheme %+v %v", qs, ok)
		}
		var i8 int
		for _, s := range b.Stored {
			if s.DType == modelfile.DTypeI8 {
				i8++
			}
		}
		if i8 == 0 {
			t.Fatalf("no I8 tensor stored: %+v", b.Stored)
		}
		in := []any{make([]float32, a.Model.InputSize())}
		if a.Kind == artifact.KindText {
			in = []any{"今天天气很好", "hello"}
		}
		p1, err := q.Predict(in)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := b.Predict(in)
		if err != nil {
			t.Fatal(err)
		}
		for i := range p1 {
			if p1[i].Class != p2[i].Class || p1[i].Probability != p2[i].Probability {
				t.Fatalf("prediction %d: %+v before saving, %+v after", i, p1[i], p2[i])
			}
		}
		// Saving the loaded model again gives the same file.
		if s2, err := b.Save(path + "2"); err != nil || s2 != sum {
			t.Fatalf("re-save: %s %v, want %s", s2, err, sum)
		}
		if a.Model.Quantized() {
			t.Fatal("Quantize changed its receiver")
		}
	}
}

// TestQuantMetadataRejected: malformed int8 metadata is an error naming
// the problem, never a panic or a silently float model.
func TestQuantMetadataRejected(t *testing.T) {
	q, err := imageArtifact(t).Quantize(nn.QuantizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good, _, err := q.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := modelfile.Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		meta string
		want string
	}{
		"not JSON":      {`{"scheme":`, "quantization"},
		"other scheme":  {`{"scheme":"int4"}`, "scheme"},
		"no scheme":     {`{}`, "scheme"},
		"NaN max":       {`{"scheme":"int8-symmetric-per-channel","act_max":[1,"x"]}`, "quantization"},
		"negative max":  {`{"scheme":"int8-symmetric-per-channel","act_max":[-1]}`, "maximum"},
		"wrong maxima":  {`{"scheme":"int8-symmetric-per-channel","act_max":[1,2,3]}`, "maxima"},
		"too large":     {`{"scheme":"int8-symmetric-per-channel","x":"` + strings.Repeat("a", artifact.MaxQuantBytes) + `"}`, "limit"},
		"float tensors": {"", "missing"}, // the key dropped: the I8 tensors are not a float model
	} {
		meta := map[string]string{}
		for k, v := range f.Meta {
			meta[k] = v
		}
		if c.meta == "" {
			delete(meta, artifact.MetaQuant)
		} else {
			meta[artifact.MetaQuant] = c.meta
		}
		b, _, err := modelfile.Encode(f.Tensors, meta)
		if err != nil {
			t.Fatal(err)
		}
		_, err = artifact.Decode(b)
		if err == nil || !strings.Contains(err.Error(), c.want) && !strings.Contains(err.Error(), "I8") {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
	}
}

func FuzzDecodeQuantized(f *testing.F) {
	q, err := imageArtifact(f).Quantize(nn.QuantizeOptions{})
	if err != nil {
		f.Fatal(err)
	}
	good, _, err := q.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := artifact.Decode(b)
		if err != nil {
			return
		}
		if _, err := a.Predict([]any{make([]float32, a.Model.InputSize())}); err != nil {
			t.Fatalf("accepted model cannot predict: %v", err)
		}
	})
}

func TestQuantizedFileSmaller(t *testing.T) {
	m, _ := nn.Build(nn.Spec{Input: []int{256}, Layers: []nn.LayerSpec{{Type: "dense", Units: 64, Activation: "relu"}, {Type: "dense", Units: 3}}}, 1)
	a, _ := artifact.New(m, artifact.KindImage, []string{"a", "b", "c"}, nil, artifact.Provenance{})
	q, _ := a.Quantize(nn.QuantizeOptions{})
	dir := t.TempDir()
	if _, err := a.Save(filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Save(filepath.Join(dir, "q")); err != nil {
		t.Fatal(err)
	}
	fs, _ := os.Stat(filepath.Join(dir, "f"))
	qs, _ := os.Stat(filepath.Join(dir, "q"))
	if r := float64(qs.Size()) / float64(fs.Size()); r > 0.3 {
		t.Fatalf("int8 file is %.2f× the float file", r)
	}
}
