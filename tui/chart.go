package tui

import (
	"math"
	"strconv"
	"strings"

	"github.com/NimbleMarkets/ntcharts/v2/canvas"
	"github.com/NimbleMarkets/ntcharts/v2/linechart"
	"github.com/charmbracelet/x/ansi"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// lineChart draws one figure of a job's history (loss or accuracy) over
// its steps as a braille line with ntcharts, titled with the figure's name
// and its latest value, so the chart reads without colour. It returns
// exactly h lines of at most w cells.
func lineChart(title string, pts []controlapi.JobPoint, value func(controlapi.JobPoint) float64, w, h int, pct bool) []string {
	var xs, ys []float64
	for _, p := range pts {
		v := value(p)
		if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			continue // not measured yet (the node sends 0 for "none")
		}
		xs, ys = append(xs, float64(p.Step)), append(ys, v)
	}
	head := title
	if n := len(ys); n > 0 {
		last := ys[n-1]
		if pct {
			head += " " + strconv.FormatFloat(100*last, 'f', 1, 64) + "%"
		} else {
			head += " " + strconv.FormatFloat(last, 'f', 4, 64)
		}
	}
	out := []string{styleHead.Render(fit(head, w))}
	if h < 4 || w < 12 {
		return padLines(out, w, h)
	}
	if len(ys) < 2 {
		return padLines(append(out, styleFaint.Render(fit("  (the chart starts after two points)", w))), w, h)
	}
	minX, maxX := xs[0], xs[len(xs)-1]
	if maxX <= minX {
		maxX = minX + 1
	}
	minY, maxY := ys[0], ys[0]
	for _, y := range ys {
		minY, maxY = math.Min(minY, y), math.Max(maxY, y)
	}
	if pct {
		minY, maxY = 0, 1
	} else {
		minY = 0
		if maxY <= minY {
			maxY = minY + 1
		}
	}
	yfmt := func(_ int, v float64) string {
		if pct {
			return strconv.Itoa(int(math.Round(100*v))) + "%"
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	xfmt := func(_ int, v float64) string { return strconv.Itoa(int(math.Round(v))) }
	lc := linechart.New(w, h-1, minX, maxX, minY, maxY,
		linechart.WithXYSteps(3, 2), linechart.WithYLabelFormatter(yfmt), linechart.WithXLabelFormatter(xfmt))
	lc.DrawXYAxisAndLabel()
	prev := canvas.Float64Point{X: xs[0], Y: ys[0]}
	for i := 1; i < len(xs); i++ {
		p := canvas.Float64Point{X: xs[i], Y: ys[i]}
		lc.DrawBrailleLine(prev, p)
		prev = p
	}
	out = append(out, strings.Split(lc.View(), "\n")...)
	return padLines(out, w, h)
}

// padLines makes ls exactly h lines, each cut to w cells.
func padLines(ls []string, w, h int) []string {
	if len(ls) > h {
		ls = ls[:h]
	}
	for i, l := range ls {
		if ansi.StringWidth(l) > w {
			ls[i] = ansi.Truncate(l, w, "")
		}
	}
	for len(ls) < h {
		ls = append(ls, "")
	}
	return ls
}

// sideBySide joins two blocks of lines in columns of width w each.
func sideBySide(a, b []string, w int) []string {
	n := max(len(a), len(b))
	out := make([]string, n)
	for i := range n {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		out[i] = strings.TrimRight(fit(x, w)+" "+y, " ")
	}
	return out
}
