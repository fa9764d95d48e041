package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// DefaultLogLines is how many lines a node's LogRing keeps: enough for an
// operator to scroll back over the last minutes of a busy node, at about
// 200 bytes a line well under a megabyte.
const DefaultLogLines = 4000

// defaultLogAnswer is how many lines GET /api/v1/logs answers without n.
const defaultLogAnswer = 500

// maxLogAttrs bounds the attribute text kept per line, so one huge
// attribute cannot fill the ring's memory.
const maxLogAttrs = 2 << 10

// LogRing is a slog.Handler that keeps the last lines logged through it
// (at Info and above, and whatever next enables) in a bounded ring, and
// passes every record on to next. A node installs it in front of its
// logger, and GET /api/v1/logs (LogRoutes) reads the ring: the console's
// Log screen shows the node's log without a terminal of its own.
//
// Concurrency: safe for concurrent use; handlers made by WithAttrs and
// WithGroup share the ring.
type LogRing struct {
	next   slog.Handler
	ring   *logBuffer
	attrs  string // pre-rendered attributes of WithAttrs, "k=v k=v"
	groups string // group prefix of WithGroup, "g1.g2."
}

type logBuffer struct {
	mu    sync.Mutex
	size  int
	seq   uint64
	lines []controlapi.LogLine // circular, oldest at lines[head] once full
	head  int
}

// NewLogRing returns a LogRing keeping n lines (DefaultLogLines when n <=
// 0) in front of next (nil: the ring only).
func NewLogRing(next slog.Handler, n int) *LogRing {
	if n <= 0 {
		n = DefaultLogLines
	}
	if next == nil {
		next = slog.DiscardHandler
	}
	return &LogRing{next: next, ring: &logBuffer{size: n}}
}

// Enabled reports whether the ring or next wants records at l.
func (r *LogRing) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || r.next.Enabled(ctx, l)
}

// Handle keeps rec (Info and above) and passes it to next if next wants it.
func (r *LogRing) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= slog.LevelInfo {
		var b strings.Builder
		b.WriteString(r.attrs)
		rec.Attrs(func(a slog.Attr) bool {
			appendAttr(&b, r.groups, a)
			return b.Len() < maxLogAttrs
		})
		attrs := b.String()
		if len(attrs) > maxLogAttrs {
			attrs = attrs[:maxLogAttrs] + "…"
		}
		r.ring.add(controlapi.LogLine{Time: rec.Time, Level: rec.Level.String(), Msg: rec.Message, Attrs: attrs})
	}
	if r.next.Enabled(ctx, rec.Level) {
		return r.next.Handle(ctx, rec)
	}
	return nil
}

// WithAttrs returns a handler that adds attrs to every line.
func (r *LogRing) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(r.attrs)
	for _, a := range attrs {
		appendAttr(&b, r.groups, a)
	}
	return &LogRing{next: r.next.WithAttrs(attrs), ring: r.ring, attrs: b.String(), groups: r.groups}
}

// WithGroup returns a handler that puts later attributes in group name.
func (r *LogRing) WithGroup(name string) slog.Handler {
	if name == "" {
		return r
	}
	return &LogRing{next: r.next.WithGroup(name), ring: r.ring, attrs: r.attrs, groups: r.groups + name + "."}
}

// appendAttr writes " key=value" (groups flattened with dots, values with
// spaces quoted) as slog's text handler would.
func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			appendAttr(b, p, g)
		}
		return
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " \t\n\"=") {
		v = strconv.Quote(v)
	}
	b.WriteString(prefix + a.Key + "=" + v)
}

func (l *logBuffer) add(line controlapi.LogLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	line.Seq = l.seq
	if len(l.lines) < l.size {
		l.lines = append(l.lines, line)
		return
	}
	l.lines[l.head] = line
	l.head = (l.head + 1) % l.size
}

// tail returns the newest n lines at level min or above with Seq > after,
// oldest first.
func (l *logBuffer) tail(min slog.Level, n int, after uint64) []controlapi.LogLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []controlapi.LogLine{}
	for i := len(l.lines) - 1; i >= 0 && len(out) < n; i-- {
		line := l.lines[(l.head+i)%len(l.lines)]
		if line.Seq <= after {
			break
		}
		var lv slog.Level
		if lv.UnmarshalText([]byte(line.Level)) == nil && lv < min {
			continue
		}
		out = append(out, line)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// LogRoutes returns the control API's log route, to mount with
// ControlConfig.Routes:
//
//	GET /api/v1/logs?level=info&n=500&after=0  controlapi.LogsResponse
//
// level is the lowest level shown (debug, info, warn, error; default all
// kept), n the most lines (default 500, at most controlapi.MaxLogLines),
// after a Seq to read on from (default 0: the newest n).
func LogRoutes(r *LogRing) map[string]http.Handler {
	return map[string]http.Handler{"GET " + controlapi.PathLogs: http.HandlerFunc(r.serve)}
}

func (r *LogRing) serve(w http.ResponseWriter, req *http.Request) {
	q, err := parseLogQuery(req.URL.Query().Get("level"), req.URL.Query().Get("n"), req.URL.Query().Get("after"))
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, controlapi.LogsResponse{Lines: r.ring.tail(q.level, q.n, q.after)})
}

type logQuery struct {
	level slog.Level
	n     int
	after uint64
}

// parseLogQuery checks the query's parameters; each may be empty.
func parseLogQuery(level, n, after string) (logQuery, error) {
	q := logQuery{level: slog.LevelDebug, n: defaultLogAnswer}
	if level != "" {
		if err := q.level.UnmarshalText([]byte(level)); err != nil || len(level) > 16 {
			return q, fmt.Errorf("level %.20q: want debug, info, warn or error", level)
		}
	}
	if n != "" {
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 || v > controlapi.MaxLogLines {
			return q, fmt.Errorf("n %.20q: want a number from 1 to %d", n, controlapi.MaxLogLines)
		}
		q.n = v
	}
	if after != "" {
		v, err := strconv.ParseUint(after, 10, 64)
		if err != nil {
			return q, fmt.Errorf("after %.24q: want a line number", after)
		}
		q.after = v
	}
	return q, nil
}
