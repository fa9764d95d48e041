package modelstore

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shoalmesh/shoal/engine/modelfile"
)

func model(t testing.TB, x float32) []byte {
	t.Helper()
	b, _, err := modelfile.Encode([]modelfile.Tensor{
		modelfile.F32Tensor("w", []int{2}, []float32{x, -x}),
	}, map[string]string{"spec": "{}"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidName(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"mnist", true},
		{"a", true},
		{"7", true},
		{"sms-spam_v2.int8", true},
		{"Model.A", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{".", false},
		{"..", false},
		{"../x", false},
		{"x/../../etc", false},
		{"a/b", false},
		{"/abs", false},
		{"x/", false},
		{`a\b`, false},
		{".hidden", false},
		{".tmp-123", false},
		{"-flag", false},
		{"_x", false},
		{"a b", false},
		{"a\x00b", false},
		{"naïve", false},
		{"天气", false},
		{strings.Repeat("x", 65), false},
	}
	for _, c := range cases {
		err := ValidName(c.name)
		if (err == nil) != c.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%q) error %v does not wrap ErrInvalidName", c.name, err)
		}
	}
	for _, l := range []string{"stable", "canary", "v1", "1a"} {
		if err := ValidLabel(l); err != nil {
			t.Errorf("ValidLabel(%q) = %v", l, err)
		}
	}
	for _, l := range []string{"", "1", "007", "latest", "../x", "a/b"} {
		if err := ValidLabel(l); err == nil {
			t.Errorf("ValidLabel(%q) accepted", l)
		}
	}
}

func TestBadNamesRejectedEverywhere(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../escape", "/tmp/x", "", "a/b"} {
		if _, err := s.Publish(name, model(t, 1)); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Publish(%q): %v", name, err)
		}
		if _, err := s.Versions(name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Versions(%q): %v", name, err)
		}
		if _, err := s.Path(name, 1); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Path(%q): %v", name, err)
		}
		if err := s.SetLabel(name, "stable", 1); !errors.Is(err, ErrInvalidName) {
			t.Errorf("SetLabel(%q): %v", name, err)
		}
		if err := s.SetLabel("m", name, 1); !errors.Is(err, ErrInvalidName) {
			t.Errorf("SetLabel label %q: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.Root()), "escape")); !os.IsNotExist(err) {
		t.Fatal("something was written outside the root")
	}
}

func TestPublishAndLabels(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Latest("mnist"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Latest of unknown model: %v", err)
	}
	for i := 1; i <= 3; i++ {
		v, err := s.Publish("mnist", model(t, float32(i)))
		if err != nil || v != i {
			t.Fatalf("publish %d: version %d, %v", i, v, err)
		}
	}
	// A corrupt model is refused and leaves nothing behind.
	bad := model(t, 9)
	bad[len(bad)-1] ^= 0xff
	if _, err := s.Publish("mnist", bad); !errors.Is(err, modelfile.ErrHashMismatch) {
		t.Fatalf("corrupt publish: %v", err)
	}
	if vs, err := s.Versions("mnist"); err != nil || !reflect.DeepEqual(vs, []int{1, 2, 3}) {
		t.Fatalf("Versions = %v, %v", vs, err)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "mnist"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("leftover %s", e.Name())
		}
	}
	if v, err := s.Latest("mnist"); err != nil || v != 3 {
		t.Fatalf("Latest = %d, %v", v, err)
	}
	p, err := s.Path("mnist", 2)
	if err != nil || p != filepath.Join(root, "mnist", "2", FileName) {
		t.Fatalf("Path = %s, %v", p, err)
	}
	f, err := modelfile.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := f.Tensor("w"); w.Data == nil {
		t.Fatal("tensor w missing")
	} else if vals, _ := w.Float32s(); vals[0] != 2 {
		t.Fatalf("version 2 holds %v", vals)
	}
	if _, err := s.Path("mnist", 4); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Path of missing version: %v", err)
	}
	if _, err := s.Path("mnist", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Path of version 0: %v", err)
	}

	// PublishFile and PublishModel.
	src := filepath.Join(t.TempDir(), "in.safetensors")
	if err := os.WriteFile(src, model(t, 5), 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := s.PublishFile("sms", src); err != nil || v != 1 {
		t.Fatalf("PublishFile: %d, %v", v, err)
	}
	// A file over the size limit is refused before it is read (the file is
	// sparse: no disk space or memory is used).
	huge := filepath.Join(t.TempDir(), "huge.safetensors")
	if err := os.WriteFile(huge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, modelfile.DefaultMaxFileSize+1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishFile("sms", huge); err == nil || !strings.Contains(err.Error(), "huge.safetensors is") {
		t.Fatalf("PublishFile of a too large file: %v", err)
	}
	v, sum, err := s.PublishModel("sms", []modelfile.Tensor{modelfile.F32Tensor("w", []int{1}, []float32{1})}, nil)
	if err != nil || v != 2 {
		t.Fatalf("PublishModel: %d, %v", v, err)
	}
	p, _ = s.Path("sms", 2)
	if f, err := modelfile.Read(p); err != nil || f.Hash != sum {
		t.Fatalf("PublishModel hash: %v", err)
	}
	if _, _, err := s.PublishModel("sms", []modelfile.Tensor{modelfile.F32Tensor("w", []int{3}, []float32{1})}, nil); err == nil {
		t.Fatal("PublishModel accepted a bad tensor")
	}

	// List ignores strays: files, temporary folders, bad names, empty models.
	for _, d := range []string{".tmp-zzz", "empty", "mnist/.tmp-1", "mnist/07", "mnist/x"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if names, err := s.List(); err != nil || !reflect.DeepEqual(names, []string{"mnist", "sms"}) {
		t.Fatalf("List = %v, %v", names, err)
	}
	if vs, _ := s.Versions("mnist"); !reflect.DeepEqual(vs, []int{1, 2, 3}) {
		t.Fatalf("strays counted as versions: %v", vs)
	}
	if v, err := s.Publish("mnist", model(t, 4)); err != nil || v != 4 {
		t.Fatalf("publish after strays: %d, %v", v, err)
	}

	// Labels.
	if ls, err := s.Labels("mnist"); err != nil || len(ls) != 0 {
		t.Fatalf("Labels before any: %v, %v", ls, err)
	}
	if err := s.SetLabel("mnist", "stable", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabel("mnist", "canary", 4); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabel("mnist", "stable", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLabel("mnist", "canary", 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("label to a missing version: %v", err)
	}
	if v, err := s.Label("mnist", "stable"); err != nil || v != 3 {
		t.Fatalf("Label stable = %d, %v", v, err)
	}
	if _, err := s.Label("mnist", "beta"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing label: %v", err)
	}
	raw, _ := os.ReadFile(filepath.Join(root, "mnist", LabelsFile))
	if string(raw) != `{"canary":4,"stable":3}`+"\n" {
		t.Fatalf("labels.json = %q", raw)
	}
	resolve := map[string]int{"": 4, "latest": 4, "2": 2, "stable": 3, "canary": 4}
	for ref, want := range resolve {
		if v, err := s.Resolve("mnist", ref); err != nil || v != want {
			t.Errorf("Resolve(%q) = %d, %v; want %d", ref, v, err, want)
		}
	}
	for _, ref := range []string{"9", "0", "02", "beta", "../x"} {
		if _, err := s.Resolve("mnist", ref); err == nil {
			t.Errorf("Resolve(%q) succeeded", ref)
		}
	}
	if err := s.RemoveLabel("mnist", "canary"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveLabel("mnist", "canary"); err != nil {
		t.Fatalf("removing an absent label: %v", err)
	}
	if ls, _ := s.Labels("mnist"); !reflect.DeepEqual(ls, map[string]int{"stable": 3}) {
		t.Fatalf("Labels = %v", ls)
	}

	// A corrupt labels file is reported, naming the file.
	if err := os.WriteFile(filepath.Join(root, "mnist", LabelsFile), []byte(`{"stable":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Label("mnist", "stable"); err == nil || !strings.Contains(err.Error(), LabelsFile) {
		t.Fatalf("corrupt labels: %v", err)
	}
}

// TestConcurrentPublish publishes from many goroutines through two Store
// values on one root; the second Store stands in for another process, whose
// mutex the first cannot see, so it exercises the rename-collision retry.
func TestConcurrentPublish(t *testing.T) {
	root := t.TempDir()
	a, _ := Open(root)
	b, _ := Open(root)
	const n = 12
	var wg sync.WaitGroup
	got := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = s.Publish("m", model(t, float32(i)))
			if errs[i] == nil {
				errs[i] = s.SetLabel("m", "stable", got[i])
			}
		}()
	}
	wg.Wait()
	seen := map[int]bool{}
	for i, v := range got {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if seen[v] {
			t.Fatalf("version %d handed out twice", v)
		}
		seen[v] = true
	}
	vs, err := a.Versions("m")
	if err != nil || len(vs) != n || vs[0] != 1 || vs[n-1] != n {
		t.Fatalf("Versions = %v, %v", vs, err)
	}
	for _, v := range vs {
		p, _ := a.Path("m", v)
		if _, err := modelfile.Read(p); err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
	}
	if _, err := a.Label("m", "stable"); err != nil {
		t.Fatal(err)
	}
}

// TestPublishCollision makes "another process" take the chosen version number
// between the choice and the rename; Publish must move on to the next number
// and leave the other writer's folder alone.
func TestPublishCollision(t *testing.T) {
	s, _ := Open(t.TempDir())
	if _, err := s.Publish("m", model(t, 1)); err != nil {
		t.Fatal(err)
	}
	other := model(t, 2)
	taken := 0
	testHookBeforeRename = func(dir string, next int) {
		if taken < 2 { // two collisions in a row
			taken++
			d := filepath.Join(dir, strconv.Itoa(next))
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Error(err)
			}
			if err := os.WriteFile(filepath.Join(d, FileName), other, 0o644); err != nil {
				t.Error(err)
			}
		}
	}
	defer func() { testHookBeforeRename = nil }()
	v, err := s.Publish("m", model(t, 3))
	if err != nil || v != 4 {
		t.Fatalf("Publish = %d, %v; want version 4", v, err)
	}
	for ver, want := range map[int]float32{2: 2, 3: 2, 4: 3} {
		p, _ := s.Path("m", ver)
		f, err := modelfile.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := f.Tensor("w")
		if vals, _ := w.Float32s(); vals[0] != want {
			t.Errorf("version %d holds %v, want %v", ver, vals[0], want)
		}
	}
}

func TestDecodeLabels(t *testing.T) {
	good := map[string]map[string]int{
		`{}`:                         {},
		` {"stable":1,"canary":22} `: {"stable": 1, "canary": 22},
		"{\"stable\":3}\n":           {"stable": 3},
		`{"v1":2147483647}`:          {"v1": 2147483647},
	}
	for in, want := range good {
		got, err := DecodeLabels([]byte(in))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("DecodeLabels(%q) = %v, %v", in, got, err)
		}
	}
	bad := map[string]string{
		``:                                   "EOF",
		`[]`:                                 "not a JSON object",
		`{"stable":1`:                        "EOF",
		`{"stable":1,"stable":2}`:            "duplicate",
		`{"stable":0}`:                       "integer >= 1",
		`{"stable":-1}`:                      "integer >= 1",
		`{"stable":1.5}`:                     "integer >= 1",
		`{"stable":1e3}`:                     "integer >= 1",
		`{"stable":2147483648}`:              "integer >= 1",
		`{"stable":"1"}`:                     "not a number",
		`{"stable":{}}`:                      "not a number",
		`{"../x":1}`:                         "invalid name",
		`{"7":1}`:                            "is a number",
		`{"latest":1}`:                       "reserved",
		`{} {}`:                              "after the JSON object",
		`{"a":1} x`:                          "after the JSON object",
		strings.Repeat(" ", MaxLabelsSize+1): "larger than",
	}
	for in, want := range bad {
		_, err := DecodeLabels([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			name := in
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			t.Errorf("DecodeLabels(%q) = %v, want an error mentioning %q", name, err, want)
		}
	}
}

func FuzzDecodeLabels(f *testing.F) {
	for _, s := range []string{`{}`, `{"stable":1,"canary":22}`, `{"a":1,"a":2}`, `{"x":1.5}`, `[1]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		labels, err := DecodeLabels(b)
		if err != nil {
			return
		}
		for l, v := range labels {
			if ValidLabel(l) != nil || v < 1 {
				t.Fatalf("accepted label %q -> %d", l, v)
			}
		}
	})
}
