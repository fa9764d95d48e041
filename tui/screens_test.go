package tui

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

func noted(want string) func(Model) bool {
	return func(m Model) bool { return strings.Contains(m.note, want) }
}

func typeText(d *driver, s string) {
	for _, r := range s {
		if r == ' ' {
			d.press("space")
		} else {
			d.press(string(r))
		}
	}
}

func TestPeersDeny(t *testing.T) {
	d, f := ready(t, 100, 30)
	d.press("d")
	if d.m.confirm == nil || !strings.Contains(plain(d.m), "deny peer bravo (12*BRAVO2)? y/n") {
		t.Fatalf("d did not ask:\n%s", plain(d.m))
	}
	d.press("j", "2") // keys other than y/n do nothing while asking
	if d.m.screen != screenPeers || d.m.confirm == nil {
		t.Fatal("keys acted behind the question")
	}
	d.press("n")
	if d.m.confirm != nil || len(f.denied) != 0 {
		t.Fatal("n did not drop the question")
	}
	d.press("j", "enter", "d", "y") // from the detail view: charlie
	d.until("the deny", noted("denied peer charlie"))
	if len(f.denied) != 1 || f.denied[0] != peerID("CHRLI3") {
		t.Fatalf("denied %v", f.denied)
	}
	f.actionErr = errors.New("shoal node: no (HTTP 400)")
	d.press("d", "y")
	d.until("the failure", noted("! deny charlie: shoal node: no"))
}

func TestJobsCancel(t *testing.T) {
	d, f := ready(t, 100, 30)
	d.press("2", "c")
	if d.m.confirm == nil || !strings.Contains(plain(d.m), "cancel job mnist 9f3c2a1b? y/n") || !strings.Contains(plain(d.m), "every member stops") {
		t.Fatalf("c did not ask:\n%s", plain(d.m))
	}
	d.press("esc")
	if d.m.confirm != nil {
		t.Fatal("esc did not drop the question")
	}
	d.press("c", "y")
	d.until("the cancel", noted("canceled job mnist 9f3c2a1b on every member"))
	if len(f.canceled) != 1 || f.canceled[0] != "9f3c2a1b7d4e" {
		t.Fatalf("canceled %v", f.canceled)
	}
	d.press("j", "c") // sst2 is done: nothing to cancel
	if d.m.confirm != nil || !strings.Contains(d.m.note, "already ended") {
		t.Fatalf("cancel of an ended job: note %q", d.m.note)
	}
}

func TestJobForm(t *testing.T) {
	d, f := ready(t, 100, 30)
	d.press("2", "n")
	if d.m.form == nil {
		t.Fatal("n did not open the form")
	}
	typeText(d, "days") // name
	d.press("tab")      // model
	d.press("backspace", "backspace", "backspace")
	typeText(d, "seed-text")
	d.press("enter") // data
	typeText(d, "/data/days.tsv")
	d.press("down") // epochs
	d.press("backspace")
	typeText(d, "x")
	d.press("ctrl+s")
	if d.m.form == nil || !strings.Contains(d.m.form.err, `epochs: want a whole number from 1, not "x"`) {
		t.Fatalf("a bad epochs field was not refused: %+v", d.m.form)
	}
	d.press("q") // keys go to the form, q included
	if d.m.form == nil || d.m.confirmQuit != "" {
		t.Fatal("q left the form")
	}
	d.press("backspace", "backspace")
	typeText(d, "2")
	d.press("tab") // min peers
	d.press("backspace")
	typeText(d, "3")
	d.press("tab") // local steps
	typeText(d, "4")
	d.press("tab", "tab", "enter") // robust, then the submit button
	d.until("the submission", noted("submitted job days 5ca1ab1e"))
	if d.m.form != nil {
		t.Fatal("the form stayed open")
	}
	want := controlapi.JobSpec{Name: "days", Model: "seed-text", Data: "/data/days.tsv", Epochs: 2, MinPeers: 3, LocalSteps: 4, Robust: "none"}
	if len(f.submitted) != 1 || !specEqual(f.submitted[0], want) {
		t.Fatalf("submitted %+v, want %+v", f.submitted, want)
	}
	d.until("the new job in the list", func(m Model) bool { return len(m.jobs) == 4 })

	// A relative data path is made absolute; the node's refusal shows in
	// the form.
	d.press("n", "tab", "tab")
	typeText(d, "rel.tsv")
	f.actionErr = errors.New("shoal node: job not started: no such file (HTTP 400)")
	d.press("ctrl+s")
	d.until("the refusal in the form", func(m Model) bool { return m.form != nil && strings.Contains(m.form.err, "no such file") })
	d.press("esc")
	if d.m.form != nil || d.m.note != "no job submitted" {
		t.Fatal("esc did not close the form")
	}
	cwd, _ := os.Getwd()
	spec, err := (&jobForm{fields: newJobForm(80).fields}).spec()
	if err == nil {
		t.Fatalf("an empty data path was accepted: %+v", spec)
	}
	fm := newJobForm(80)
	fm.fields[fieldData].input.SetValue("rel.tsv")
	if spec, err := fm.spec(); err != nil || spec.Data != filepath.Join(cwd, "rel.tsv") || spec.Model != "mlp" {
		t.Errorf("spec %+v, %v", spec, err)
	}
	fm.fields[fieldModel].input.SetValue(filepath.Join(t.TempDir(), "missing.json"))
	if _, err := fm.spec(); err == nil || !strings.Contains(err.Error(), "model spec") {
		t.Errorf("missing spec file: %v", err)
	}
}

func specEqual(a, b controlapi.JobSpec) bool {
	return a.Name == b.Name && a.Model == b.Model && a.Data == b.Data && a.Epochs == b.Epochs &&
		a.MinPeers == b.MinPeers && a.LocalSteps == b.LocalSteps && a.Robust == b.Robust
}

func TestJobChartsRefill(t *testing.T) {
	d, f := ready(t, 100, 30)
	d.press("2", "enter")
	d.until("the history", func(m Model) bool { return len(m.history["9f3c2a1b7d4e"]) == 12 })
	// A status of this node's adds a point; a replayed one does not.
	st := controlapi.JobStatus{Peer: f.self.ID, State: controlapi.JobTraining, Step: 1300, Loss: 0.15, Accuracy: 0.9}
	for _, id := range []string{"b-8", "b-9"} {
		f.send(t, controlapi.Event{ID: id, Type: controlapi.EventJobStatus, Time: t0, Job: &controlapi.JobEvent{ID: "9f3c2a1b7d4e", Status: &st}})
		d.until("event "+id, func(m Model) bool { return m.lastID == id })
	}
	if n := len(d.m.history["9f3c2a1b7d4e"]); n != 13 {
		t.Errorf("%d points after a status sent twice, want 13", n)
	}
	if !strings.Contains(plain(d.m), "loss 0.1500") {
		t.Errorf("chart title lacks the latest loss:\n%s", plain(d.m))
	}
	// After a reconnect the stream resumes after the last id and the
	// history is read again.
	f.crash()
	d.until("the loss", func(m Model) bool { return !m.connected })
	f.recover()
	d.until("the reconnect", connected)
	f.mu.Lock()
	ids := append([]string(nil), f.lastIDs...)
	f.mu.Unlock()
	if ids[len(ids)-1] != "b-9" {
		t.Errorf("reconnect resumed from %q, want b-9", ids[len(ids)-1])
	}
	d.until("the history again", func(m Model) bool { return len(m.history["9f3c2a1b7d4e"]) == 13 })
}

func TestModelsKeys(t *testing.T) {
	d, f := ready(t, 100, 30)
	d.press("3")
	rows := d.m.modelRows()
	if len(rows) != 2 || rows[0].name != "mnist-mlp" || rows[0].int8 != "float" || len(rows[0].servers) != 2 || rows[1].local != nil {
		t.Fatalf("rows %+v", rows)
	}
	d.press("l")
	if d.m.prompt == nil {
		t.Fatal("l did not ask for a label")
	}
	typeText(d, "prod")
	d.press("enter")
	d.until("the label", noted("mnist-mlp: label prod → v2"))
	d.press("l")
	typeText(d, "old@1")
	d.press("enter")
	d.until("the label of v1", noted("label old → v1"))
	if strings.Join(f.labels, ";") != "mnist-mlp prod 2;mnist-mlp old 1" {
		t.Errorf("labels %v", f.labels)
	}
	d.press("u")
	d.until("the unload", noted("unloaded mnist-mlp here"))
	d.press("z")
	d.until("the int8 version", noted("mnist-mlp v3: the int8 form of v2"))
	if strings.Join(f.serving, ";") != "mnist-mlp false;quantize mnist-mlp" {
		t.Errorf("serving and quantize calls %v", f.serving)
	}
	d.press("x")
	if d.m.confirm == nil || !strings.Contains(plain(d.m), "remove model mnist-mlp (2 versions) from this node? y/n") {
		t.Fatalf("x did not ask:\n%s", plain(d.m))
	}
	d.press("y")
	d.until("the removal", noted("removed model mnist-mlp"))
	d.press("p") // only bravo (besides this node) serves mnist-mlp
	if d.m.chooser == nil || len(d.m.chooser.options) != 1 {
		t.Fatalf("p did not offer bravo: %+v", d.m.chooser)
	}
	d.press("enter")
	d.until("the pull", noted("pulled mnist-mlp v1 from bravo (3.0 MiB)"))
	if len(f.pulled) != 1 || f.pulled[0] != "mnist-mlp "+peerID("BRAVO2") {
		t.Errorf("pulled %v", f.pulled)
	}
	d.press("j", "l") // sst2 is not on this node
	if d.m.prompt != nil || !strings.Contains(d.m.note, "no version on this node") {
		t.Errorf("label of a model not here: %q", d.m.note)
	}
	d.press("x")
	if d.m.confirm != nil {
		t.Error("remove of a model not here asked")
	}
	d.press("/", "s", "s", "enter")
	if ms := d.m.visibleModels(); len(ms) != 1 || ms[0].name != "sst2" {
		t.Errorf("filter ss shows %v", ms)
	}
}

func TestQueryKeys(t *testing.T) {
	d, f := ready(t, 100, 30)
	d.press("4")
	if got := d.m.queryModels(); len(got) != 2 {
		t.Fatalf("query models %v", got)
	}
	d.press("enter") // nothing typed: starts typing
	if !d.m.query.typing {
		t.Fatal("enter with no input did not start typing")
	}
	typeText(d, "[0.5, 1]")
	d.press("1", "q") // keys go to the input
	if d.m.screen != screenQuery || d.m.query.input.Value() != "[0.5, 1]1q" {
		t.Fatalf("input %q", d.m.query.input.Value())
	}
	d.press("backspace", "backspace", "enter")
	d.until("the answer", func(m Model) bool { return len(m.query.history) == 1 })
	v := plain(d.m)
	for _, want := range []string{"label 7", "probability 91.0%", "served by bravo (12*BRAVO2)", "7         ███", "9         █", "History (1 this session)"} {
		if !strings.Contains(v, want) {
			t.Errorf("query view lacks %q:\n%s", want, v)
		}
	}
	if len(f.predicted) != 1 || string(f.predicted[0].Inputs[0]) != "[0.5, 1]" {
		t.Errorf("sent %v", f.predicted)
	}
	// A text goes as a JSON string; a bad array is refused here.
	d.press("j", "i", "ctrl+u")
	typeText(d, "good day")
	d.press("enter")
	d.until("the second answer", func(m Model) bool { return len(m.query.history) == 2 })
	if string(f.predicted[1].Inputs[0]) != `"good day"` {
		t.Errorf("text sent as %s", f.predicted[1].Inputs[0])
	}
	d.press("i", "ctrl+u")
	typeText(d, "[1,")
	d.press("enter")
	if !strings.Contains(d.m.note, "not one") || len(f.predicted) != 2 {
		t.Errorf("bad array: note %q", d.m.note)
	}
	f.actionErr = errors.New("shoal node: model not found (HTTP 404)")
	d.press("i", "ctrl+u", "x", "enter")
	d.until("the failure", func(m Model) bool { return len(m.query.history) == 3 })
	if !strings.Contains(plain(d.m), "failed: shoal node: model not found") {
		t.Errorf("failure not in the history:\n%s", plain(d.m))
	}
}

// writeIDX writes n images of 28×28 (a vertical bar, as a "1") and their
// labels as IDX files, the images gzipped.
func writeIDX(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	var img bytes.Buffer
	_ = binary.Write(&img, binary.BigEndian, []uint32{idxImagesMagic, uint32(n), 28, 28})
	for range n {
		px := make([]byte, 28*28)
		for r := 4; r < 24; r++ {
			px[r*28+13], px[r*28+14] = 255, 255
		}
		img.Write(px)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(img.Bytes())
	w.Close()
	path := filepath.Join(dir, "t10k-images-idx3-ubyte.gz")
	if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var lab bytes.Buffer
	_ = binary.Write(&lab, binary.BigEndian, []uint32{idxLabelsMagic, uint32(n)})
	for i := range n {
		lab.WriteByte(byte(i % 10))
	}
	if err := os.WriteFile(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), lab.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestQueryImagePicker(t *testing.T) {
	f := newFake()
	opt := testOptions()
	opt.Images = writeIDX(t, 3)
	d := newDriverWith(t, f, 100, 30, opt)
	d.until("the first connection", connected)
	if len(d.m.images) != 3 || d.m.images[2].label != 2 {
		t.Fatalf("images %d, note %q", len(d.m.images), d.m.note)
	}
	d.press("4", "right", "right", "left", "]")
	if d.m.query.image != 1 {
		t.Fatalf("image %d after →→←], want 1", d.m.query.image)
	}
	if v := plain(d.m); !strings.Contains(v, "test image #2 of 3, labelled 1") || !strings.Contains(v, "⢸⡇") {
		t.Errorf("picker not drawn:\n%s", v)
	}
	checkGolden(t, "query_image_100x30", plain(d.m))
	d.press("enter")
	d.until("the answer", func(m Model) bool { return len(m.query.history) == 1 })
	if n := strings.Count(string(f.predicted[0].Inputs[0]), ","); n != 28*28-1 {
		t.Errorf("image sent with %d values", n+1)
	}
	checkGolden(t, "query_answer_100x30", plain(d.m))
	d.press("esc")
	if d.m.query.image != -1 {
		t.Error("esc kept the image")
	}
}

func TestDecodeIDXMalformed(t *testing.T) {
	hdr := func(vs ...uint32) []byte {
		var b bytes.Buffer
		_ = binary.Write(&b, binary.BigEndian, vs)
		return b.Bytes()
	}
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "IDX header"},
		{"short header", hdr(idxImagesMagic, 1), "IDX header"},
		{"labels magic", hdr(idxLabelsMagic, 1, 28, 28), "not an IDX image file"},
		{"huge side", hdr(idxImagesMagic, 1, 1<<20, 28), "want 1 to 64"},
		{"zero side", hdr(idxImagesMagic, 1, 0, 28), "want 1 to 64"},
		{"no images", hdr(idxImagesMagic, 0, 28, 28), "no images"},
		{"no pixels", hdr(idxImagesMagic, 5, 28, 28), "image 1"},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 0}, "gzip"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeIDXImages(bytes.NewReader(c.in), 10)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
	// A truncated file gives the images it holds; a huge count reads only n.
	in := append(hdr(idxImagesMagic, 1<<30, 2, 2), 1, 2, 3, 4, 5, 6, 7, 8, 9)
	imgs, err := decodeIDXImages(bytes.NewReader(in), 5)
	if err != nil || len(imgs) != 2 {
		t.Errorf("truncated: %d images, %v", len(imgs), err)
	}
}

func FuzzDecodeIDXImages(f *testing.F) {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, []uint32{idxImagesMagic, 2, 2, 2})
	b.Write([]byte{0, 255, 128, 7, 1, 2, 3, 4})
	f.Add(b.Bytes())
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, in []byte) {
		imgs, err := decodeIDXImages(bytes.NewReader(in), 4)
		if err != nil {
			return
		}
		for _, img := range imgs {
			if len(img.pixels) != img.rows*img.cols || img.rows > maxImageSide || img.cols > maxImageSide {
				t.Fatalf("image %dx%d with %d pixels", img.rows, img.cols, len(img.pixels))
			}
			_ = renderImage(img)
		}
	})
}

func TestLogKeys(t *testing.T) {
	d, f := ready(t, 100, 30)
	d.press("5")
	d.until("the log", func(m Model) bool { return len(m.logs.lines) == 5 })
	if !d.m.logs.follow || d.m.lists[screenLog].cursor != 4 {
		t.Fatalf("not following: cursor %d", d.m.lists[screenLog].cursor)
	}
	d.press("k")
	if d.m.logs.follow {
		t.Fatal("k did not pause following")
	}
	d.press("v", "v") // info, then warn
	if got := len(d.m.visibleLogs()); got != 2 || !strings.Contains(plain(d.m), "level ≥ warn") {
		t.Fatalf("%d lines at warn", got)
	}
	d.press("v", "v") // error, then all
	d.press("/", "p", "e", "e", "r", "enter")
	if got := len(d.m.visibleLogs()); got != 2 {
		t.Errorf("filter peer shows %d lines", got)
	}
	d.press("esc")
	// New lines arrive on the next read, after the last seen.
	f.mu.Lock()
	f.logs = append(f.logs, controlapi.LogLine{Seq: 6, Time: t0, Level: "INFO", Msg: "new line"})
	f.mu.Unlock()
	d.press("G")
	d.spawn(d.m.fetchLogs())
	d.until("the new line", func(m Model) bool { return len(m.logs.lines) == 6 })
	if !strings.Contains(plain(d.m), "›12:00:00 INFO  new line") {
		t.Errorf("the new line is not selected:\n%s", plain(d.m))
	}
	// The log is read only while its screen shows.
	d.press("1")
	if d.m.fetchLogs() != nil {
		t.Error("the log is read behind another screen")
	}
}

func TestPeerUpdatedAndReset(t *testing.T) {
	d, f := ready(t, 100, 30)
	b := f.peers[0]
	b.RTT, b.Load = 40*time.Millisecond, 3.5
	f.send(t, controlapi.Event{ID: "b-1", Type: controlapi.EventPeerUpdated, Time: t0, Peer: &b})
	d.until("bravo's new RTT", func(m Model) bool { return m.peers[0].RTT == 40*time.Millisecond })
	if !strings.Contains(plain(d.m), "40.0ms 3.50") {
		t.Errorf("new figures not shown:\n%s", plain(d.m))
	}
	f.mu.Lock()
	f.peers = f.peers[:1]
	f.mu.Unlock()
	f.send(t, controlapi.Event{ID: "b-2", Type: controlapi.EventStreamReset, Time: t0})
	d.until("the refill after a reset", func(m Model) bool { return len(m.peers) == 1 })
}

// TestStartScreenAndQueryModel: the console opens on Options.Start, and
// moves once to the Query screen with Options.QueryModel picked when that
// model can be queried (the demo's path from Jobs to Query); after the
// operator leaves Query it does not pull them back.
func TestStartScreenAndQueryModel(t *testing.T) {
	opt := testOptions()
	opt.Start = "jobs"
	d := newDriverWith(t, newFake(), 100, 30, opt)
	d.until("the first connection", connected)
	if d.m.screen != screenJobs {
		t.Fatalf("opened on %v, want Jobs", d.m.screen)
	}

	opt.QueryModel = "sst2"
	d = newDriverWith(t, newFake(), 100, 30, opt)
	d.until("the move to Query", func(m Model) bool { return m.screen == screenQuery })
	models := d.m.queryModels()
	if c := d.m.lists[screenQuery].cursor; c >= len(models) || models[c] != "sst2" {
		t.Fatalf("picked %d of %v, want sst2", c, models)
	}
	if !strings.Contains(plain(d.m), "sst2 is served") {
		t.Errorf("no note of the move:\n%s", plain(d.m))
	}
	d.press("2")
	d.m.followQueryModel()
	if d.m.screen != screenJobs {
		t.Error("the console pulled the operator back to Query")
	}
}

// TestJobsPending: a job held for this node's operator shows as pending
// with a banner and its time left; a accepts it, x declines it after
// asking; on a job that is not pending both only say so. The refusals of a
// job this node submitted show in its detail.
func TestJobsPending(t *testing.T) {
	d, f := ready(t, 110, 30)
	f.mu.Lock()
	now := d.m.opt.Now()
	f.jobs = append([]controlapi.Job{
		{ID: "a11ce0000001", Name: "theirs", Model: "mlp", State: controlapi.JobPending, Epochs: 2, Members: 1,
			Submitter: peerID("BRAVO2"), Expires: now.Add(4 * time.Minute)},
		{ID: "b0b000000002", Name: "other", Model: "mlp", State: controlapi.JobPending, Epochs: 1, Members: 1,
			Submitter: peerID("BRAVO2"), Expires: now.Add(time.Minute)},
	}, f.jobs...)
	f.jobs[2].Refusals = []controlapi.JobRefusal{{Peer: peerID("CHRLI3"), Reason: "memory", Detail: "it needs about 3 GiB of memory"}}
	f.mu.Unlock()
	f.send(t, controlapi.Event{Type: controlapi.EventJobPending, Job: &controlapi.JobEvent{ID: "a11ce0000001"}})
	d.press("2")
	d.until("the pending jobs", func(m Model) bool { return strings.Contains(plain(m), "2 job(s) wait for your answer") })
	view := plain(d.m)
	if !strings.Contains(view, "pending") || !strings.Contains(view, "answer a/x (4m0s left)") {
		t.Fatalf("pending job not shown as such:\n%s", view)
	}
	d.press("a") // the first row: theirs
	d.until("the accept", noted("accepted job theirs a11ce000: it runs here"))
	d.press("j", "x")
	if d.m.confirm == nil || !strings.Contains(plain(d.m), "decline job other b0b00000? y/n") {
		t.Fatalf("x did not ask:\n%s", plain(d.m))
	}
	d.press("y")
	d.until("the decline", noted("declined job other b0b00000"))
	f.mu.Lock()
	answered := slices.Clone(f.answered)
	f.mu.Unlock()
	if !slices.Equal(answered, []string{"accept a11ce0000001", "decline b0b000000002"}) {
		t.Fatalf("answers sent: %v", answered)
	}
	d.until("the list without pending jobs", func(m Model) bool { return !strings.Contains(plain(m), "wait for your answer") })
	d.press("j", "a") // mnist trains: nothing to accept
	if !strings.Contains(d.m.note, "is not waiting for an answer (training)") || len(f.answered) != 2 {
		t.Fatalf("accept of a running job: note %q", d.m.note)
	}
	d.press("enter")
	if view := plain(d.m); !strings.Contains(view, "refused      by charlie (memory): it needs about 3 GiB of memory") {
		t.Fatalf("refusal not in the job's detail:\n%s", view)
	}
}
