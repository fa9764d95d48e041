package tui

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// maxSpecFile bounds a model spec file the form reads (the node takes an
// inline spec of at most 256 KiB).
const maxSpecFile = 256 << 10

// jobForm is the form behind `n` on the Jobs screen: plain text inputs,
// one per field, checked when submitted; the node checks the spec again.
type jobForm struct {
	fields  []formField
	focus   int // len(fields) is the submit button
	err     string
	sending bool
}

type formField struct {
	label, hint string
	input       textinput.Model
}

// Field order, as the form shows them.
const (
	fieldName = iota
	fieldModel
	fieldData
	fieldEpochs
	fieldMinPeers
	fieldLocalSteps
	fieldRobust
	numFields
)

func newJobForm(width int) *jobForm {
	mk := func(label, value, placeholder, hint string) formField {
		ti := newInput(placeholder)
		ti.SetValue(value)
		ti.SetWidth(max(10, min(40, width-40)))
		return formField{label: label, hint: hint, input: ti}
	}
	f := &jobForm{fields: []formField{
		fieldName:       mk("name", "", "optional", "names the published model"),
		fieldModel:      mk("model", "mlp", "", "preset (mlp cnn lstm-text seed-text logreg) or a spec .json"),
		fieldData:       mk("data", "", "/path/to/data", "read by the node: a path on its machine"),
		fieldEpochs:     mk("epochs", "1", "", "passes over the data"),
		fieldMinPeers:   mk("min peers", "1", "", "members, this node included, before training"),
		fieldLocalSteps: mk("local steps", "", "node default", "steps between averaging rounds"),
		fieldRobust:     mk("robust", "none", "", "none, or clip a partner's difference"),
	}}
	f.fields[0].input.Focus()
	return f
}

// formDoneMsg reports a submission.
type formDoneMsg struct {
	gen  int
	spec controlapi.JobSpec
	err  error
}

func (m Model) formKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	f := *m.form
	f.fields = append([]formField(nil), f.fields...)
	k := &m.keys
	if f.sending {
		if key.Matches(msg, k.FormEsc) {
			m.form = nil // the submission goes on; its answer is still noted
		}
		return m, nil
	}
	move := func(to int) {
		if f.focus < len(f.fields) {
			f.fields[f.focus].input.Blur()
		}
		f.focus = (to + len(f.fields) + 1) % (len(f.fields) + 1)
		if f.focus < len(f.fields) {
			f.fields[f.focus].input.Focus()
		}
	}
	switch {
	case key.Matches(msg, k.FormEsc):
		m.form = nil
		m.note = "no job submitted"
		return m, nil
	case key.Matches(msg, k.FormSubmit), msg.String() == "enter" && f.focus == len(f.fields):
		spec, err := f.spec()
		if err != nil {
			f.err = err.Error()
			m.form = &f
			return m, nil
		}
		f.err, f.sending = "", true
		m.form = &f
		return m, m.submitCmd(spec)
	case key.Matches(msg, k.FormNext):
		move(f.focus + 1)
	case key.Matches(msg, k.FormPrev):
		move(f.focus - 1)
	default:
		if f.focus < len(f.fields) {
			var cmd tea.Cmd
			f.fields[f.focus].input, cmd = f.fields[f.focus].input.Update(msg)
			m.form = &f
			return m, cmd
		}
	}
	m.form = &f
	return m, nil
}

func (m Model) submitCmd(spec controlapi.JobSpec) tea.Cmd {
	node, ctx, gen := m.node, m.ctx, m.gen
	return func() tea.Msg {
		out, err := node.SubmitJob(ctx, spec)
		return formDoneMsg{gen, out, err}
	}
}

func (m Model) formDone(msg formDoneMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		if m.form != nil {
			f := *m.form
			f.sending, f.err = false, msg.err.Error()
			m.form = &f
		} else {
			m.note = "! submit: " + msg.err.Error()
		}
		return m, nil
	}
	m.form = nil
	name := msg.spec.Name
	if name == "" {
		name = msg.spec.Model
	}
	m.note = "✓ submitted job " + name + " " + shortJobID(msg.spec.ID)
	m.screen = screenJobs
	if msg.gen == m.gen && m.connected {
		return m, m.fetchJobs()
	}
	return m, nil
}

func shortJobID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// spec checks the fields and builds the job spec.
func (f *jobForm) spec() (controlapi.JobSpec, error) {
	val := func(i int) string { return strings.TrimSpace(f.fields[i].input.Value()) }
	num := func(i int, min int) (int, error) {
		s := val(i)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < min {
			return 0, fmt.Errorf("%s: want a whole number from %d, not %q", f.fields[i].label, min, s)
		}
		return n, nil
	}
	spec := controlapi.JobSpec{Name: val(fieldName), Robust: val(fieldRobust)}
	var err error
	if spec.Epochs, err = num(fieldEpochs, 1); err != nil {
		return spec, err
	}
	if spec.MinPeers, err = num(fieldMinPeers, 1); err != nil {
		return spec, err
	}
	if spec.LocalSteps, err = num(fieldLocalSteps, 1); err != nil {
		return spec, err
	}
	model := val(fieldModel)
	switch {
	case model == "":
		return spec, errors.New("model: give a preset name or a model spec file")
	case strings.HasSuffix(model, ".json") || strings.ContainsRune(model, os.PathSeparator):
		raw, err := readSpecFile(model)
		if err != nil {
			return spec, err
		}
		spec.ModelSpec = raw
	default:
		spec.Model = model
	}
	data := val(fieldData)
	if data == "" {
		return spec, errors.New("data: give the path of the training data")
	}
	// The node reads the path and refuses a relative one: the console
	// usually runs on the node's machine, so make it absolute here.
	if spec.Data, err = filepath.Abs(data); err != nil {
		return spec, fmt.Errorf("data: %w", err)
	}
	return spec, nil
}

// readSpecFile reads an inline model spec: at most maxSpecFile bytes of
// valid JSON.
func readSpecFile(path string) (json.RawMessage, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model spec: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxSpecFile+1))
	if err != nil {
		return nil, fmt.Errorf("model spec: %w", err)
	}
	if len(b) > maxSpecFile {
		return nil, fmt.Errorf("model spec %s is larger than %d KiB", path, maxSpecFile>>10)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("model spec %s is not valid JSON", path)
	}
	return b, nil
}

// formLines draws the form in the body.
func (m Model) formLines() []string {
	f := m.form
	out := []string{styleHead.Render("New job") + "  (↓/tab/enter next field · ctrl+s submits · esc closes)", ""}
	for i, fl := range f.fields {
		marker := "  "
		if i == f.focus {
			marker = "› "
		}
		line := fmt.Sprintf("%s%-12s %s", marker, fl.label, fit(fl.input.View(), fl.input.Width()+1))
		if m.width >= 90 {
			line += "  " + styleFaint.Render(fl.hint)
		}
		out = append(out, line)
	}
	button := "  [ submit ]"
	if f.focus == len(f.fields) {
		button = styleSelected.Render("› [ submit ]")
	}
	out = append(out, "", button)
	switch {
	case f.sending:
		out = append(out, "", "  submitting… (the node cuts the data into shards first)")
	case f.err != "":
		out = append(out, "", styleBanner.Render("! "+f.err))
	}
	return out
}
