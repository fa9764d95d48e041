package data

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on text data files. A line (TSV, JSONL) or CSV record longer than
// MaxLineBytes is an error, as is a file longer than MaxTextFileBytes; both
// are far beyond any real labelled-text corpus row and keep a bad or hostile
// file from exhausting memory.
const (
	MaxLineBytes     = 1 << 20   // 1 MiB per line / record
	MaxTextFileBytes = 512 << 20 // 512 MiB per file
	MaxLabelBytes    = 256       // a class name
)

// TextRow is one labelled text.
type TextRow struct {
	Label string `json:"label"`
	Text  string `json:"text"`
}

// headerLabels are first-line label fields taken as a column header, not data.
var headerLabels = map[string]bool{"label": true, "labels": true, "class": true, "category": true, "target": true}

func isHeader(label string) bool { return headerLabels[strings.ToLower(strings.TrimSpace(label))] }

// ReadTextRows reads labelled texts, choosing the format by extension:
// .tsv/.txt (label<TAB>text), .csv (label,text), .jsonl/.ndjson/.json
// (one {"label":..., "text":...} object per line; .json may also be a single
// array of such objects). An optional header line (first label field one of
// label, labels, class, category, target, any case) is skipped. Blank lines
// are skipped. Errors read "path:line: problem".
func ReadTextRows(path string) ([]TextRow, error) {
	var read func(io.Reader, string) ([]TextRow, error)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".tsv", ".txt", ".tab":
		read = ReadTSV
	case ".csv":
		read = ReadCSV
	case ".jsonl", ".ndjson", ".json":
		read = ReadJSONL
	default:
		return nil, fmt.Errorf("%s: unknown text data format %q: want .tsv or .txt (label<TAB>text), .csv (label,text) or .jsonl/.json ({\"label\":...,\"text\":...})", path, filepath.Ext(path))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > MaxTextFileBytes {
		return nil, fmt.Errorf("%s: file is %d bytes, limit %d", path, st.Size(), MaxTextFileBytes)
	}
	return read(f, path)
}

// limitedReader fails once more than MaxTextFileBytes have been read, so
// readers that are not given a file (pipes, fuzzers) are bounded too.
type limitedReader struct {
	r        io.Reader
	n        int64
	name     string
	exceeded error // set once a read went past the limit
}

var errFileTooBig = errors.New("file too big")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		l.exceeded = fmt.Errorf("%s: longer than the %d-byte limit: %w", l.name, MaxTextFileBytes, errFileTooBig)
		return 0, l.exceeded
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func limit(r io.Reader, name string) *limitedReader {
	if l, ok := r.(*limitedReader); ok {
		return l // already limited (tests use a small limit)
	}
	return &limitedReader{r: r, n: MaxTextFileBytes, name: name}
}

// lines calls fn for each line of r (without the line ending, "\r\n" or
// "\n"), with 1-based line numbers, checking length and UTF-8.
func lines(r io.Reader, name string, fn func(line string, no int) error) error {
	lr := limit(r, name)
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes+2)
	no := 0
	for sc.Scan() {
		no++
		if lr.exceeded != nil {
			// The scanner hands over the partial last line before its error;
			// report the limit, not that line's defect.
			return lr.exceeded
		}
		b := sc.Bytes()
		b = bytes.TrimSuffix(b, []byte{'\r'})
		if no == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
		}
		if len(b) > MaxLineBytes {
			return fmt.Errorf("%s:%d: line longer than the %d-byte limit", name, no, MaxLineBytes)
		}
		if !utf8.Valid(b) {
			return fmt.Errorf("%s:%d: not valid UTF-8", name, no)
		}
		if err := fn(string(b), no); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s:%d: line longer than the %d-byte limit", name, no+1, MaxLineBytes)
		}
		if errors.Is(err, errFileTooBig) {
			return err
		}
		return fmt.Errorf("%s:%d: %w", name, no+1, err)
	}
	return nil
}

func checkLabel(name string, no int, label string) (string, error) {
	label = strings.TrimSpace(label)
	switch {
	case label == "":
		return "", fmt.Errorf("%s:%d: empty label", name, no)
	case len(label) > MaxLabelBytes:
		return "", fmt.Errorf("%s:%d: label longer than %d bytes", name, no, MaxLabelBytes)
	}
	return label, nil
}

// ReadTSV reads label<TAB>text lines. The text is everything after the first
// tab, kept as is (it may contain more tabs), as the PyTorch reference does.
// name is used in error messages.
func ReadTSV(r io.Reader, name string) ([]TextRow, error) {
	var rows []TextRow
	first := true
	err := lines(r, name, func(line string, no int) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		label, text, ok := strings.Cut(line, "\t")
		if first {
			first = false
			if isHeader(label) {
				return nil
			}
		}
		if !ok {
			return fmt.Errorf("%s:%d: missing tab between label and text", name, no)
		}
		label, err := checkLabel(name, no, label)
		if err != nil {
			return err
		}
		rows = append(rows, TextRow{Label: label, Text: text})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", name)
	}
	return rows, nil
}

// ReadCSV reads label,text records (RFC 4180: quote a text that contains
// commas, quotes or newlines). Exactly two fields per record.
func ReadCSV(r io.Reader, name string) ([]TextRow, error) {
	br := bufio.NewReader(limit(r, name))
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // we check the count ourselves, with a clearer message
	cr.ReuseRecord = true
	var rows []TextRow
	for rec := 0; ; rec++ {
		fields, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: %v", name, pe.Line, pe.Err)
			}
			if errors.Is(err, errFileTooBig) {
				return nil, err
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		no, _ := cr.FieldPos(0)
		if rec == 0 && isHeader(fields[0]) {
			continue
		}
		if len(fields) == 1 && strings.TrimSpace(fields[0]) == "" {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: %d fields, want 2 (label,text); quote a text that contains commas", name, no, len(fields))
		}
		if len(fields[0])+len(fields[1]) > MaxLineBytes {
			return nil, fmt.Errorf("%s:%d: record longer than the %d-byte limit", name, no, MaxLineBytes)
		}
		if !utf8.ValidString(fields[0]) || !utf8.ValidString(fields[1]) {
			return nil, fmt.Errorf("%s:%d: not valid UTF-8", name, no)
		}
		label, err := checkLabel(name, no, fields[0])
		if err != nil {
			return nil, err
		}
		rows = append(rows, TextRow{Label: label, Text: fields[1]})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", name)
	}
	return rows, nil
}

// jsonRow accepts a label given as a string, number or boolean (0/1 and
// true/false labels are common in JSONL datasets).
type jsonRow struct {
	Label *json.RawMessage `json:"label"`
	Text  *string          `json:"text"`
}

func (j jsonRow) row(name string, no int) (TextRow, error) {
	if j.Label == nil {
		return TextRow{}, fmt.Errorf("%s:%d: missing \"label\"", name, no)
	}
	if j.Text == nil {
		return TextRow{}, fmt.Errorf("%s:%d: missing \"text\" (a string)", name, no)
	}
	raw := bytes.TrimSpace(*j.Label)
	var label string
	switch {
	case len(raw) > 0 && raw[0] == '"':
		if err := json.Unmarshal(raw, &label); err != nil {
			return TextRow{}, fmt.Errorf("%s:%d: label: %v", name, no, err)
		}
	case string(raw) == "true" || string(raw) == "false":
		label = string(raw)
	default:
		var num json.Number
		if err := json.Unmarshal(raw, &num); err != nil || num == "" {
			return TextRow{}, fmt.Errorf("%s:%d: label must be a string, number or boolean, got %.40s", name, no, raw)
		}
		label = num.String()
		if f, err := strconv.ParseFloat(label, 64); err == nil && f == float64(int64(f)) {
			label = strconv.FormatInt(int64(f), 10) // 1.0 and 1 are the same class
		}
	}
	label, err := checkLabel(name, no, label)
	if err != nil {
		return TextRow{}, err
	}
	return TextRow{Label: label, Text: *j.Text}, nil
}

// ReadJSONL reads one JSON object per line: {"label": "spam", "text": "..."}.
// Other fields are ignored. The label may be a string, number or boolean.
// If the first non-blank byte is '[', the input is read instead as one JSON
// array of such objects (a .json file); line numbers then point at the start
// of each element.
func ReadJSONL(r io.Reader, name string) ([]TextRow, error) {
	br := bufio.NewReader(limit(r, name))
	if b, err := br.Peek(3); err == nil && string(b) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	// Look past leading white space, without consuming it (line numbers),
	// for the '[' of a JSON array.
	for k := 1; k <= br.Size(); k++ {
		b, _ := br.Peek(k)
		if len(b) < k {
			break
		}
		if c := b[k-1]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			if c == '[' {
				return readJSONArray(br, name)
			}
			break
		}
	}
	return readJSONLines(br, name)
}

func readJSONLines(r io.Reader, name string) ([]TextRow, error) {
	var rows []TextRow
	err := lines(r, name, func(line string, no int) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		var j jsonRow
		if err := json.Unmarshal([]byte(line), &j); err != nil {
			var ute *json.UnmarshalTypeError
			if errors.As(err, &ute) {
				return fmt.Errorf("%s:%d: want an object {\"label\":...,\"text\":\"...\"}: %v", name, no, err)
			}
			return fmt.Errorf("%s:%d: bad JSON: %v", name, no, err)
		}
		row, err := j.row(name, no)
		if err != nil {
			return err
		}
		rows = append(rows, row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", name)
	}
	return rows, nil
}

func readJSONArray(r io.Reader, name string) ([]TextRow, error) {
	// The whole array is in memory anyway; read it so offsets map to lines.
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	lineAt := func(off int64) int { return 1 + bytes.Count(b[:min(int(off), len(b))], []byte{'\n'}) }
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // '['
		return nil, fmt.Errorf("%s:1: bad JSON: %v", name, err)
	}
	var rows []TextRow
	for dec.More() {
		start := dec.InputOffset()
		// InputOffset is just past the previous token; the element starts
		// after the separating comma and white space.
		off := int(start)
		for off < len(b) && (b[off] == ',' || b[off] == ' ' || b[off] == '\t' || b[off] == '\r' || b[off] == '\n') {
			off++
		}
		no := lineAt(int64(off))
		var j jsonRow
		if err := dec.Decode(&j); err != nil {
			return nil, fmt.Errorf("%s:%d: bad array element: %v", name, lineAt(dec.InputOffset()), err)
		}
		if int(dec.InputOffset()-start) > MaxLineBytes {
			return nil, fmt.Errorf("%s:%d: element longer than the %d-byte limit", name, no, MaxLineBytes)
		}
		row, err := j.row(name, no)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, fmt.Errorf("%s:%d: bad JSON: %v", name, lineAt(dec.InputOffset()), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s:%d: data after the closing ']'", name, lineAt(dec.InputOffset()))
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", name)
	}
	return rows, nil
}
