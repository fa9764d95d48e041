package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// shortID abbreviates a peer id as `shoal peers` does ("12*abcdef").
func shortID(id string) string {
	if len(id) <= 9 {
		return orDash(id)
	}
	return id[:2] + "*" + id[len(id)-6:]
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtRTT(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	default:
		return d.Round(10 * time.Millisecond).String()
	}
}

func fmtAgo(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	default:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
}

func fmtBytes[T int64 | uint64](n T) string {
	if n <= 0 {
		return "-"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, exp := float64(n), 0
	for v >= unit && exp < 5 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[exp-1])
}

func fmtFloat(v float64, prec int) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func fmtPercent(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
}

func fmtList(xs []string) string {
	if len(xs) == 0 {
		return "-"
	}
	return strings.Join(xs, ",")
}

// firstAddr is the first address, shortened by short, and how many more
// there are.
func firstAddr(xs []string, short func(string) string) string {
	switch len(xs) {
	case 0:
		return "-"
	case 1:
		return short(xs[0])
	default:
		return fmt.Sprintf("%s +%d", short(xs[0]), len(xs)-1)
	}
}

// compactAddr writes a multiaddr such as /ip4/10.0.0.2/tcp/4001/ws as
// 10.0.0.2:4001/ws for a table cell; anything else is kept as it is.
func compactAddr(a string) string {
	parts := strings.Split(strings.TrimPrefix(a, "/"), "/")
	if len(parts) < 4 {
		return a
	}
	host := parts[1]
	switch parts[0] {
	case "ip6":
		host = "[" + host + "]"
	case "ip4", "dns", "dns4", "dns6":
	default:
		return a
	}
	if parts[2] != "tcp" && parts[2] != "udp" {
		return a
	}
	out := host + ":" + parts[3]
	for i := 4; i < len(parts); i++ {
		if parts[i] == "p2p" {
			break
		}
		out += "/" + parts[i]
	}
	return out
}

// fmtAge is fmtAgo for a narrow column: "now", "2s", "3m", "1h".
func fmtAge(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	default:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
}

// progressBar draws done/total in width cells as "[###---] 50%"; it is
// read by its text, not its colour.
func progressBar(done, total, width int) string {
	if total <= 0 {
		return "-"
	}
	pct := 0.0
	if total > 0 {
		pct = min(1, float64(done)/float64(total))
	}
	label := fmt.Sprintf(" %3d%%", int(pct*100))
	cells := width - 2 - len(label)
	if cells < 3 {
		return strings.TrimSpace(label)
	}
	n := int(pct*float64(cells) + 0.5)
	return "[" + strings.Repeat("#", n) + strings.Repeat("-", cells-n) + "]" + label
}

// fit pads or truncates s to exactly w cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-ansi.StringWidth(s))
}

// column is one table column: a title, a minimum width and a share of the
// width left over.
type column struct {
	title string
	min   int
	flex  int
	right bool
}

// layout gives each column its width so the row fits width cells (columns
// separated by one space, after a 2-cell marker).
func layout(cols []column, width int) []int {
	ws := make([]int, len(cols))
	used, flex := 2, 0
	for i, c := range cols {
		ws[i] = c.min
		used += c.min + 1
		flex += c.flex
	}
	if extra := width - used; extra > 0 && flex > 0 {
		for i, c := range cols {
			ws[i] += extra * c.flex / flex
		}
	}
	return ws
}

func renderRow(marker string, cells []string, cols []column, ws []int) string {
	var b strings.Builder
	b.WriteString(fit(marker, 2))
	for i, c := range cells {
		if i > 0 {
			b.WriteByte(' ')
		}
		if cols[i].right && ansi.StringWidth(c) < ws[i] {
			c = strings.Repeat(" ", ws[i]-ansi.StringWidth(c)) + c
		}
		b.WriteString(fit(c, ws[i]))
	}
	return strings.TrimRight(b.String(), " ")
}
