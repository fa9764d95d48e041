package ortpeer

import (
	"strings"
	"testing"
)

func TestParseKeepsOnlyResultLines(t *testing.T) {
	out := []byte(`warming up
{"peer":"onnxruntime","batch":1,"us_per_batch":12.5,"cpu_seconds_per_wall_second":1.01}
{"peer":"onnxruntime","batch":64,"us_per_batch":88,"cpu_seconds_per_wall_second":0.99}
{"batch":0,"us_per_batch":3}
{"batch":256}
not json
`)
	got := parse(out)
	if len(got) != 2 || got[1].USPerBatch != 12.5 || got[64].USPerBatch != 88 || got[1].CPUPerWall != 1.01 {
		t.Fatalf("parse = %+v", got)
	}
}

func TestNewExplainsWhatIsMissing(t *testing.T) {
	if r := New("", "ort_ref.js"); !strings.Contains(r.Note, Install) {
		t.Fatalf("no folder: note %q does not point to %s", r.Note, Install)
	}
	dir := t.TempDir()
	r := New(dir, "ort_ref.js")
	if r.Note == "" || !strings.Contains(r.Note, Install) {
		t.Fatalf("empty node_modules: note %q", r.Note)
	}
	if _, err := r.Time(Job{File: "x.onnx", Shape: "784", Batches: []int{1}}); err == nil {
		t.Fatal("Time ran without ONNX Runtime")
	}
}
