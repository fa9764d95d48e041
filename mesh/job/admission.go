package job

import (
	"errors"
	"fmt"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/mesh"
)

// Admission: any member may announce a job, and every full peer used to
// start every valid announcement — no cap, no consent, and sizes up to a
// width of 2^24 and a batch of 2^16 (terabytes for one batch). Its checks
// are in two parts.
//
// What an announcement must satisfy wherever it is heard, so that a peer
// sending one that does not is at fault (verify): its fields are in range
// (validate), its id is the hash of its spec (a job is what it says it is),
// and its model can be sized — a preset this version knows or an inline spec
// that parses, at most nn.MaxParams parameters, taking the manifest's
// samples. decodeMessage runs these in the jobs topic's validator, so such
// an announcement is dropped before any peer forwards or admits it and
// GossipSub scores its sender down (mesh/score.go, P4): a member that
// publishes a handful is graylisted. No refusal is sent: the submitter
// is the offender, and the message never reaches it anyway.
//
// What depends on this node alone (admit): a peer takes a job only when
//   - the operator lets it join jobs (JoinPolicy; the node's own
//     submissions always run),
//   - fewer than MaxJobs jobs run here, and
//   - the job's memory, estimated from its spec and manifest before
//     anything is allocated, fits the budget;
// and an edge peer takes only jobs that ask for edge peers. Under JoinAsk
// an admissible job then waits for the operator (pending.go). These are
// not the sender's fault: its message is accepted and forwarded (so the
// peers that can take the job hear it), and the refusal is logged, sent to
// local subscribers as a job_refused event and to the job's submitter as
// a refusal message (refusal.go); for a job submitted here it is returned
// to the submitter.

// Join policies.
const (
	JoinAuto = "auto" // join every admissible job (default)
	JoinAsk  = "ask"  // hold every admissible job until the operator accepts it
	JoinOff  = "off"  // run only jobs submitted here
)

// Why a peer refused a job, as its refusal message says.
const (
	RefusedPolicy   = "policy"   // the peer joins no jobs of others (--jobs off)
	RefusedDeclined = "declined" // its operator declined the job (--jobs ask)
	RefusedExpired  = "expired"  // its operator did not answer in time (--jobs ask)
	RefusedBusy     = "busy"     // --max-jobs jobs run there, or too many wait for an answer
	RefusedMemory   = "memory"   // the job's estimate exceeds its --mem-budget
	RefusedEdge     = "edge"     // an edge peer, and the job does not ask for edge peers
	// RefusedInvalid: the id is not the spec's hash, or the model cannot
	// be sized. Older peers send it; this version rejects such an
	// announcement in the topic validator instead (verify).
	RefusedInvalid = "invalid"
)

// refusedReasons is the set of reasons a refusal message may carry.
var refusedReasons = map[string]bool{RefusedPolicy: true, RefusedDeclined: true, RefusedExpired: true,
	RefusedBusy: true, RefusedMemory: true, RefusedEdge: true, RefusedInvalid: true}

// refusalError is an admission refusal with its reason; it matches
// ErrRefused under errors.Is.
type refusalError struct{ reason, detail string }

func (e *refusalError) Error() string        { return ErrRefused.Error() + ": " + e.detail }
func (e *refusalError) Is(target error) bool { return target == ErrRefused }

func refused(reason, format string, a ...any) error {
	return &refusalError{reason: reason, detail: fmt.Sprintf(format, a...)}
}

// refusalOf splits a refusal into its reason and detail (an error that is
// no refusalError counts as invalid).
func refusalOf(err error) (reason, detail string) {
	var re *refusalError
	if errors.As(err, &re) {
		return re.reason, re.detail
	}
	return RefusedInvalid, err.Error()
}

// Defaults of admission.
const (
	DefaultMaxJobs = 4
	// averagerCopies is how many model-sized vectors a member's averager
	// holds (mesh/avg: the live parameters' snapshot, the round's sum and
	// received vectors, the consensus copies): about seven.
	averagerCopies = 7
)

// ErrRefused wraps every admission refusal.
var ErrRefused = errors.New("job refused")

// admit says whether this peer takes ann's job; submitted marks a job this
// node's own operator submitted. ann has passed verify (the topic's
// validator, or launch for a submission).
func (m *Manager) admit(ann Announcement, submitted bool) error {
	spec := ann.Spec
	if !submitted && m.cfg.JoinPolicy == JoinOff {
		return refused(RefusedPolicy, "this peer joins no jobs of others (shoal up --jobs off)")
	}
	if !submitted && m.cfg.Role == mesh.RoleEdge && !spec.Edge {
		return refused(RefusedEdge, "this is an edge peer, and the job does not ask for edge peers (shoal job submit --edge)")
	}
	if n := m.running(spec.ID); n >= m.cfg.MaxJobs {
		return refused(RefusedBusy, "%d jobs already run here, the limit (shoal up --max-jobs %d)", n, m.cfg.MaxJobs)
	}
	need, err := EstimateBytes(spec, ann.Manifest)
	if err != nil {
		return refused(RefusedInvalid, "%v", err) // verify sized it already
	}
	if budget := m.memBudget(); budget > 0 && need > budget {
		return refused(RefusedMemory, "it needs about %s of memory, this peer's budget is %s (shoal up --mem-budget)",
			humanize.IBytes(uint64(need)), humanize.IBytes(uint64(budget)))
	}
	return nil
}

// verify is validate and the checks of an announcement's fields against
// each other that depend on nothing of this node (see the top of this
// file): the id hashes the spec, and the model can be sized and takes the
// samples the manifest describes.
func (a *Announcement) verify() error {
	if err := a.validate(); err != nil {
		return err
	}
	check := a.Spec
	check.assignID()
	if check.ID != a.Spec.ID {
		return fmt.Errorf("announce: id %s is not the hash of its spec (%s)", a.Spec.ID, check.ID)
	}
	ns, err := jobSpec(a.Spec, a.Manifest)
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	if _, err := ns.Footprint(); err != nil { // nn.MaxParams, and every layer's shape
		return fmt.Errorf("announce: job model: %w", err)
	}
	width := 1
	for _, d := range a.Manifest.SampleShape {
		width *= d // validate bounded the product
	}
	in := 1
	for _, d := range ns.Input {
		in *= d // Footprint bounded the product
	}
	if in != width {
		// BuildModel would refuse it on every peer, after its shards
		// were fetched.
		return fmt.Errorf("announce: job model takes %d values per sample, the data has %d", in, width)
	}
	return nil
}

// refuse records a refusal of someone else's job and tells its submitter.
func (m *Manager) refuse(ann Announcement, err error) {
	m.log.Warn("job refused", "job", ann.Spec.ID, "submitter", ann.Spec.Submitter, "err", err)
	spec := ann.Spec
	m.emit(Event{Type: "job_refused", Job: spec.ID, Spec: &spec, Error: err.Error(), Time: time.Now()})
	reason, detail := refusalOf(err)
	m.sendRefusal(spec.ID, reason, detail)
}

// running counts the jobs whose run has not ended here, and this node's
// submissions still being prepared, except job except (a re-announcement
// of a job that runs here, or a submission checked once prepared, does
// not count against itself).
func (m *Manager) running(except string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, js := range m.jobs {
		select {
		case <-js.done:
		default:
			if id != except {
				n++
			}
		}
	}
	for id, p := range m.preparing {
		if p.err == nil && id != except {
			n++
		}
	}
	return n
}

// memBudget is the configured budget, or half of this machine's memory as
// its heartbeats report it; 0 means no check.
func (m *Manager) memBudget() int64 {
	switch b := m.cfg.MemBudget; {
	case b > 0:
		return b
	case b < 0:
		return 0
	}
	return int64(m.node.Self().MemBytes / 2)
}

// EstimateBytes is the memory a member needs for a job, from its spec and
// manifest alone: the parameters with their gradients, Adam's two moments
// and the averager's copies; a batch's inputs and activations (forward
// and backward); and this member's share of the training rows (every row on a one-peer
// job, Replication/MinPeers of them otherwise).
func EstimateBytes(spec Spec, m Manifest) (int64, error) {
	ns, err := jobSpec(spec, m)
	if err != nil {
		return 0, err
	}
	f, err := ns.Footprint()
	if err != nil {
		return 0, fmt.Errorf("job model: %w", err)
	}
	batch := spec.Batch
	if batch == 0 {
		batch = DefaultBatch(m.Kind)
	}
	width := int64(1)
	for _, d := range m.SampleShape {
		width *= int64(d)
	}
	rows := int64(m.TrainRows)
	if spec.MinPeers > 1 {
		rows = min(rows, rows*int64(max(spec.Replication, 1))/int64(spec.MinPeers))
	}
	const f32 = 4
	params := int64(f.Params) * f32 * (1 + 1 + 2 + averagerCopies)
	acts := int64(batch) * (width + int64(f.Activations)*2) * f32
	data := rows * (width + 1) * f32
	return params + acts + data, nil
}

// jobSpec resolves the job's network (an inline spec or a preset sized by
// the manifest) without building it.
func jobSpec(spec Spec, m Manifest) (nn.Spec, error) {
	if len(spec.ModelSpec) > 0 {
		ns, err := nn.ParseSpec(spec.ModelSpec)
		if err != nil {
			return nn.Spec{}, fmt.Errorf("job model: %w", err)
		}
		return ns, nil
	}
	o := nn.PresetOptions{Classes: len(m.Labels)}
	if len(m.Encoder) > 0 {
		enc, err := m.encoder()
		if err != nil {
			return nn.Spec{}, err
		}
		o.Vocab = max(m.VocabCap, enc.Rows())
		o.MaxLen = enc.MaxLen
	}
	ns, err := nn.Preset(spec.Model, o)
	if err != nil {
		return nn.Spec{}, fmt.Errorf("job model: %w", err)
	}
	return ns, nil
}

// maxRefused bounds the refused ids remembered; past it the set starts
// over (a refusal may then be reported twice, never lost).
const maxRefused = 1024

// noteRefusal records a refused id and says whether it is new.
func (m *Manager) noteRefusal(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, seen := m.refused[id]; seen {
		return false
	}
	if len(m.refused) >= maxRefused {
		clear(m.refused)
	}
	m.refused[id] = struct{}{}
	return true
}
