package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/shoalmesh/shoal/engine/jsonx"
	"github.com/shoalmesh/shoal/mesh/shards"
)

// Message versions and kinds.
const (
	messageVersion = 1
	kindAnnounce   = "announce"
	kindStatus     = "status"
	kindCancel     = "cancel"  // cancel.go
	kindRefusal    = "refusal" // refusal.go
)

// ShardRef names one shard of a job and how many rows it holds.
type ShardRef struct {
	ID   string `json:"id"`
	Rows int    `json:"rows"`
}

// Manifest is what a submitter tells every peer about the job's data.
type Manifest struct {
	Kind        string          `json:"kind"` // image or text
	Labels      []string        `json:"labels"`
	Encoder     json.RawMessage `json:"encoder,omitempty"` // text.Encoder of text jobs
	SampleShape []int           `json:"sample_shape"`
	Shards      []ShardRef      `json:"shards"`
	// Probe is a small shard of test rows every member fetches, to report
	// accuracy on a hold-out while training.
	Probe     ShardRef `json:"probe"`
	TrainRows int      `json:"train_rows"`
	// VocabCap is the embedding size of text presets (the vocabulary cap).
	VocabCap int `json:"vocab_cap,omitempty"`
}

// Announcement starts a job on every peer that hears it.
type Announcement struct {
	Spec     Spec     `json:"spec"`
	Manifest Manifest `json:"manifest"`
}

// States of a member in a job, in order.
const (
	StateJoined    = "joined"
	StateFetching  = "fetching"
	StateTraining  = "training"
	StateTrained   = "trained"
	StateConsensus = "consensus"
	StateDone      = "done"
	StateFailed    = "failed"
)

var stateRank = map[string]int{StateJoined: 0, StateFetching: 1, StateTraining: 2, StateTrained: 3, StateConsensus: 4, StateDone: 5, StateFailed: 5}

// Status is one member's progress, sent on the job topic after every
// averaging round (and on every change of state).
type Status struct {
	Job       string   `json:"job"`
	Peer      string   `json:"peer"`
	State     string   `json:"state"`
	Epoch     int      `json:"epoch"`
	Step      int      `json:"step"`
	Steps     int      `json:"steps"`
	Loss      float64  `json:"loss"`
	Accuracy  float64  `json:"accuracy"`
	Distance  float64  `json:"consensus_distance"`
	Rounds    int      `json:"rounds"`
	BytesSent int64    `json:"bytes_sent"`
	BytesRecv int64    `json:"bytes_recv"`
	Have      []string `json:"have,omitempty"` // shard ids held (sent when it changes)
	Hash      string   `json:"model_hash,omitempty"`
	Version   int      `json:"model_version,omitempty"`
	Error     string   `json:"error,omitempty"`
}

type envelope struct {
	V        int             `json:"v"`
	Kind     string          `json:"kind"`
	Announce *Announcement   `json:"announce,omitempty"`
	Status   *Status         `json:"status,omitempty"`
	Cancel   *CancelMessage  `json:"cancel,omitempty"`
	Refusal  *RefusalMessage `json:"refusal,omitempty"`
}

// bodies counts the bodies e carries: a message has exactly one.
func (e *envelope) bodies() int {
	n := 0
	for _, set := range []bool{e.Announce != nil, e.Status != nil, e.Cancel != nil, e.Refusal != nil} {
		if set {
			n++
		}
	}
	return n
}

func encodeAnnouncement(a Announcement) ([]byte, error) {
	return encodeEnvelope(envelope{V: messageVersion, Kind: kindAnnounce, Announce: &a})
}

func encodeStatus(s Status) ([]byte, error) {
	return encodeEnvelope(envelope{V: messageVersion, Kind: kindStatus, Status: &s})
}

func encodeEnvelope(e envelope) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if len(b) > maxMessage {
		return nil, fmt.Errorf("job message of %d bytes exceeds %d", len(b), maxMessage)
	}
	return b, nil
}

// decodeMessage reads one job message and validates what it carries. It
// is the jobs topic's validator: a message it refuses is dropped unforwarded
// and counts against the peer that sent it (mesh/score.go, P4), so it checks
// everything a sender could have got right and nothing of this node's own
// state (admission.go).
func decodeMessage(b []byte) (envelope, error) {
	var e envelope
	if len(b) > maxMessage {
		return e, fmt.Errorf("job message of %d bytes exceeds %d", len(b), maxMessage)
	}
	if err := jsonx.DecodeStrict(b, &e); err != nil {
		return e, fmt.Errorf("job message: %w", err)
	}
	if e.V != messageVersion {
		return e, fmt.Errorf("job message: version %d, want %d", e.V, messageVersion)
	}
	switch e.Kind {
	case kindCancel:
		if e.Cancel == nil || e.bodies() != 1 {
			return e, errors.New("job message: cancel without its body")
		}
		return e, e.Cancel.validate()
	case kindRefusal:
		if e.Refusal == nil || e.bodies() != 1 {
			return e, errors.New("job message: refusal without its body")
		}
		return e, e.Refusal.validate()
	case kindAnnounce:
		if e.Announce == nil || e.bodies() != 1 {
			return e, errors.New("job message: announce without its body")
		}
		return e, e.Announce.verify()
	case kindStatus:
		if e.Status == nil || e.bodies() != 1 {
			return e, errors.New("job message: status without its body")
		}
		return e, e.Status.validate()
	default:
		return e, fmt.Errorf("job message: unknown kind %q", e.Kind)
	}
}

// validate checks an announcement's fields one by one (verify, in
// admission.go, checks them against each other).
func (a *Announcement) validate() error {
	s := &a.Spec
	if !validID(s.ID) {
		return fmt.Errorf("announce: bad job id %q", s.ID)
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	if s.Batch < 1 {
		return errors.New("announce: no batch size")
	}
	m := &a.Manifest
	if m.Kind != "image" && m.Kind != "text" {
		return fmt.Errorf("announce: data kind %q", m.Kind)
	}
	if len(m.Labels) < 1 || len(m.Labels) > maxLabels {
		return fmt.Errorf("announce: %d labels", len(m.Labels))
	}
	if m.Kind == "text" && len(m.Encoder) == 0 {
		return errors.New("announce: text job without its tokenizer")
	}
	if len(m.SampleShape) == 0 || len(m.SampleShape) > maxSampleDims {
		return fmt.Errorf("announce: sample shape %v", m.SampleShape)
	}
	width := 1
	for _, d := range m.SampleShape {
		if d < 1 || d > maxSampleDim {
			return fmt.Errorf("announce: sample shape %v", m.SampleShape)
		}
		width *= d
		if width > maxSampleWidth {
			return fmt.Errorf("announce: sample shape %v too large", m.SampleShape)
		}
	}
	if s.Private {
		if len(m.Shards) != 0 || m.Probe.ID != "" || m.TrainRows != 0 {
			return errors.New("announce: a private-data job lists no shards")
		}
		return nil
	}
	if len(m.Shards) == 0 {
		return errors.New("announce: no shards")
	}
	rows := 0
	seen := make(map[string]bool, len(m.Shards))
	for i, r := range append([]ShardRef{m.Probe}, m.Shards...) {
		if i == 1 {
			delete(seen, m.Probe.ID) // the probe may double as a training shard
		}
		if _, err := shards.ParseID(r.ID); err != nil {
			return fmt.Errorf("announce: %w", err)
		}
		if r.Rows < 1 || r.Rows > maxShardRows {
			return fmt.Errorf("announce: shard %s has %d rows", r.ID, r.Rows)
		}
		if seen[r.ID] {
			return fmt.Errorf("announce: shard %s listed twice", r.ID)
		}
		seen[r.ID] = true
	}
	for _, r := range m.Shards {
		rows += r.Rows
	}
	if rows != m.TrainRows {
		return fmt.Errorf("announce: shards hold %d rows, manifest says %d", rows, m.TrainRows)
	}
	return nil
}

func (s *Status) validate() error {
	if !validID(s.Job) {
		return fmt.Errorf("status: bad job id %q", s.Job)
	}
	if _, ok := stateRank[s.State]; !ok {
		return fmt.Errorf("status: unknown state %q", s.State)
	}
	if s.Epoch < 0 || s.Step < 0 || s.Steps < 0 || s.Rounds < 0 || s.BytesSent < 0 || s.BytesRecv < 0 {
		return errors.New("status: negative counter")
	}
	for _, f := range []float64{s.Loss, s.Accuracy, s.Distance} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// A diverged peer may report NaN loss; JSON cannot carry it anyway.
			return errors.New("status: non-finite figure")
		}
	}
	if len(s.Have) > maxHave {
		return fmt.Errorf("status: %d shard ids", len(s.Have))
	}
	for _, h := range s.Have {
		if _, err := shards.ParseID(h); err != nil {
			return fmt.Errorf("status: %w", err)
		}
	}
	if len(s.Error) > maxStatusError {
		return errors.New("status: error text too long")
	}
	return nil
}
