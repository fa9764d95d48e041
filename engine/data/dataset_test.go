package data

import (
	"reflect"
	"testing"
)

func TestSplitHoldout(t *testing.T) {
	if got := SplitHoldout(5574, 0.2); got != 4459 {
		t.Errorf("SplitHoldout(5574, 0.2) = %d, want 4459 (int(5574*0.8))", got)
	}
	for n := 0; n < 5000; n++ { // the reference computes int(n*0.8)
		if got, want := SplitHoldout(n, 0.2), int(float64(n)*0.8); got != want {
			t.Fatalf("SplitHoldout(%d, 0.2) = %d, want %d", n, got, want)
		}
	}
	if SplitHoldout(10, 0) != 10 || SplitHoldout(10, -1) != 10 || SplitHoldout(10, 1) != 0 || SplitHoldout(10, 0.5) != 5 {
		t.Error("edge fractions wrong")
	}
}

func testDataset() *Dataset {
	return &Dataset{
		X: []float32{0, 1, 10, 11, 20, 21, 30, 31}, Y: []float32{0, 1, 1, 0}, N: 4,
		SampleShape: []int{2}, Labels: []string{"a", "b"}, Texts: []string{"t0", "t1", "t2", "t3"}, Lengths: []int{1, 2, 2, 1},
	}
}

func TestBatchAndSlice(t *testing.T) {
	d := testDataset()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	x, y := make([]float32, 6), make([]float32, 3)
	d.Batch([]int{3, 0, 2}, x, y)
	if !reflect.DeepEqual(x, []float32{30, 31, 0, 1, 20, 21}) || !reflect.DeepEqual(y, []float32{0, 0, 1}) {
		t.Errorf("Batch: x %v y %v", x, y)
	}
	if a := testing.AllocsPerRun(100, func() { d.Batch([]int{1, 2}, x, y) }); a != 0 {
		t.Errorf("Batch allocates %v times per call", a)
	}
	s := d.Slice(1, 3)
	if s.N != 2 || !reflect.DeepEqual(s.X, []float32{10, 11, 20, 21}) || !reflect.DeepEqual(s.Texts, []string{"t1", "t2"}) || !reflect.DeepEqual(s.Lengths, []int{2, 2}) {
		t.Errorf("Slice: %+v", s)
	}
	s.X[0] = 99
	if d.X[2] != 99 {
		t.Error("Slice copied instead of sharing memory")
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
	if s2 := d.Slice(4, 4); s2.N != 0 || len(s2.X) != 0 {
		t.Errorf("empty slice %+v", s2)
	}
	defer func() {
		if recover() == nil {
			t.Error("Slice(3, 5) did not panic")
		}
	}()
	d.Slice(3, 5)
}

func TestValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Dataset){
		"short X":        func(d *Dataset) { d.X = d.X[:7] },
		"short Y":        func(d *Dataset) { d.Y = d.Y[:3] },
		"label too big":  func(d *Dataset) { d.Y[0] = 2 },
		"fractional":     func(d *Dataset) { d.Y[0] = 0.5 },
		"negative label": func(d *Dataset) { d.Y[0] = -1 },
		"texts":          func(d *Dataset) { d.Texts = d.Texts[:1] },
		"lengths":        func(d *Dataset) { d.Lengths = d.Lengths[:1] },
	} {
		d := testDataset()
		mutate(d)
		if err := d.Validate(); err == nil {
			t.Errorf("%s: Validate passed", name)
		}
	}
}

func TestLabelSet(t *testing.T) {
	rows := func(ls ...string) []TextRow {
		var r []TextRow
		for _, l := range ls {
			r = append(r, TextRow{Label: l})
		}
		return r
	}
	for _, c := range []struct{ in, want []string }{
		{[]string{"spam", "ham", "ham"}, []string{"ham", "spam"}},
		{[]string{"10", "2", "1", "2"}, []string{"1", "2", "10"}},
		{[]string{"好", "坏", "好"}, []string{"坏", "好"}},
		{[]string{"b", "10", "a"}, []string{"10", "a", "b"}},
	} {
		if got := LabelSet(rows(c.in...)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("LabelSet(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
