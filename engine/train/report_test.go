package train

import (
	"math"
	"testing"

	"github.com/shoalmesh/shoal/engine/data"
	"github.com/shoalmesh/shoal/engine/nn"
)

func TestClassScores(t *testing.T) {
	// 10 spam (8 caught), 90 ham (3 flagged wrongly).
	conf := [][]int{{87, 3}, {2, 8}}
	s := classScores(conf, []string{"ham", "spam"})
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if s[1].Label != "spam" || s[1].Support != 10 || !near(s[1].Precision, 8.0/11) || !near(s[1].Recall, 0.8) ||
		!near(s[1].F1, 2*(8.0/11)*0.8/(8.0/11+0.8)) {
		t.Errorf("spam %+v", s[1])
	}
	if s[0].Support != 90 || !near(s[0].Recall, 87.0/90) || !near(s[0].Precision, 87.0/89) {
		t.Errorf("ham %+v", s[0])
	}
	// A class never predicted and never present scores 0, not NaN.
	z := classScores([][]int{{5, 0, 0}, {1, 4, 0}, {0, 0, 0}}, []string{"a"})
	if z[2].Precision != 0 || z[2].F1 != 0 || z[2].Label != "2" {
		t.Errorf("empty class %+v", z[2])
	}
}

// TestEvaluateReport: the confusion matrix counts every sample once, its
// diagonal is the accuracy, and labels name the classes.
func TestEvaluateReport(t *testing.T) {
	m, err := nn.Build(nn.Spec{Input: []int{2}, Layers: []nn.LayerSpec{{Type: "dense", Units: 3}}}, 4)
	if err != nil {
		t.Fatal(err)
	}
	d := &data.Dataset{X: []float32{1, 0, 0, 1, 1, 1, -1, 0, 0, -1}, Y: []float32{0, 1, 2, 0, 1}, N: 5,
		SampleShape: []int{2}, Labels: []string{"a", "b", "c"}}
	mt, err := Evaluate(m, d, 2)
	if err != nil {
		t.Fatal(err)
	}
	total, diag := 0, 0
	for i, row := range mt.Confusion {
		for j, v := range row {
			total += v
			if i == j {
				diag += v
			}
		}
	}
	if total != 5 || math.Abs(float64(diag)/5-mt.Accuracy) > 1e-12 || len(mt.Classes) != 3 || mt.Classes[2].Label != "c" || mt.Classes[0].Support != 2 {
		t.Fatalf("report %+v", mt)
	}
}
