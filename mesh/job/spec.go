package job

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shoalmesh/shoal/engine/jsonx"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/mesh/avg"
)

// Spec describes one training job. Zero fields take the defaults of Fill.
type Spec struct {
	ID   string `json:"id"`   // set by Submit: a hash of the rest
	Name string `json:"name"` // model name in every peer's store
	// Model is a preset name (mlp, cnn, lstm-text, ...); ModelSpec, when
	// set, is an inline nn.Spec (JSON) and wins.
	Model     string          `json:"model"`
	ModelSpec json.RawMessage `json:"model_spec,omitempty"`
	Data      string          `json:"data"` // path on the submitting peer; with Private, a name each peer maps to its own path
	Holdout   float64         `json:"holdout,omitempty"`
	Epochs    int             `json:"epochs"`
	Batch     int             `json:"batch"`
	LR        float64         `json:"lr"`
	Optimizer string          `json:"optimizer"`
	// LocalSteps is H: local SGD steps between two averaging rounds.
	LocalSteps int     `json:"local_steps"`
	Compress   string  `json:"compress"` // none, fp16, int8
	Robust     string  `json:"robust"`   // none, clip
	OuterLR    float64 `json:"outer_lr,omitempty"`
	// Replication is r, the number of owners of each shard.
	Replication int `json:"replication"`
	// MinPeers is how many members (the submitter included) must have
	// joined before training starts.
	MinPeers int `json:"min_peers"`
	// TargetAccuracy, when > 0, stops a peer's training once its accuracy
	// on the job's probe set reaches it (checked every epoch).
	TargetAccuracy float64 `json:"target_accuracy,omitempty"`
	Seed           uint64  `json:"seed"`
	Edge           bool    `json:"edge,omitempty"`    // edge peers join too
	Private        bool    `json:"private,omitempty"` // each peer trains on its own local data
	ShardRows      int     `json:"shard_rows,omitempty"`
	Submitter      string  `json:"submitter,omitempty"`
	Created        int64   `json:"created,omitempty"` // unix seconds, set by Submit
}

// DefaultBatch is the batch size of a job that names none: 64 for images
// and 32 for text, as in the reference trainer.
func DefaultBatch(kind string) int {
	if kind == "text" {
		return 32
	}
	return 64
}

// Fill sets defaults on zero fields (Batch depends on the data; Submit sets it).
func (s *Spec) Fill() {
	if s.Epochs == 0 {
		s.Epochs = 1
	}
	if s.Optimizer == "" {
		s.Optimizer = "adam"
	}
	if s.LR == 0 {
		s.LR = 1e-3
	}
	if s.LocalSteps == 0 {
		s.LocalSteps = 10
	}
	if s.Compress == "" {
		s.Compress = "none"
	}
	if s.Robust == "" {
		s.Robust = "none"
	}
	if s.Replication == 0 {
		s.Replication = 2
	}
	if s.MinPeers == 0 {
		s.MinPeers = 1
	}
	if s.ShardRows == 0 {
		s.ShardRows = 1000
	}
	if s.Name == "" {
		s.Name = strings.ReplaceAll(s.Model, "/", "-")
		if s.Name == "" || len(s.ModelSpec) > 0 {
			s.Name = "job"
		}
	}
}

// Validate checks a filled spec.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if s.Model == "" && len(s.ModelSpec) == 0 {
		bad("no model: give a preset name or a spec")
	}
	if len(s.ModelSpec) > maxModelSpec {
		bad("model spec of %d bytes exceeds %d", len(s.ModelSpec), maxModelSpec)
	}
	if s.Data == "" {
		bad("no data path")
	}
	if s.Holdout < 0 || s.Holdout >= 1 {
		bad("holdout %g outside [0, 1)", s.Holdout)
	}
	if s.Epochs < 1 || s.Epochs > maxEpochs {
		bad("epochs %d outside [1, %d]", s.Epochs, maxEpochs)
	}
	if s.Batch < 0 || s.Batch > maxBatch {
		bad("batch %d outside [0, %d]", s.Batch, maxBatch)
	}
	if !(s.LR > 0 && s.LR < 10) {
		bad("learning rate %g outside (0, 10)", s.LR)
	}
	if s.LocalSteps < 1 || s.LocalSteps > maxLocalSteps {
		bad("local steps %d outside [1, %d]", s.LocalSteps, maxLocalSteps)
	}
	if _, err := avg.ParseEncoding(s.Compress); err != nil {
		bad("compress: %v", err)
	}
	if _, err := avg.ParseRobust(s.Robust); err != nil {
		bad("robust: %v", err)
	}
	if s.OuterLR < 0 || s.OuterLR > 10 {
		bad("outer lr %g outside [0, 10]", s.OuterLR)
	}
	if s.Replication < 1 || s.Replication > maxReplication {
		bad("replication %d outside [1, %d]", s.Replication, maxReplication)
	}
	if s.MinPeers < 1 || s.MinPeers > maxMinPeers {
		bad("min peers %d outside [1, %d]", s.MinPeers, maxMinPeers)
	}
	if s.TargetAccuracy < 0 || s.TargetAccuracy > 1 {
		bad("target accuracy %g outside [0, 1]", s.TargetAccuracy)
	}
	if s.ShardRows < 1 || s.ShardRows > maxShardRows {
		bad("shard rows %d outside [1, %d]", s.ShardRows, maxShardRows)
	}
	if err := modelstore.ValidName(s.Name); err != nil {
		bad("name: %v", err)
	}
	return errors.Join(errs...)
}

// assignID sets ID to a hash of the spec without its ID, so the same
// submission always names the same job and ids never collide by accident.
func (s *Spec) assignID() { s.ID = s.HashID() }

// HashID is the id of s's job: a hash of the spec without its ID. Every
// peer's topic validator rejects an announcement whose id is not this.
func (s Spec) HashID() string {
	s.ID = ""
	b, _ := json.Marshal(s)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// validID reports whether id looks like an id made by assignID.
func validID(id string) bool {
	if len(id) != 16 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// SubmitTime returns when the job was submitted.
func (s *Spec) SubmitTime() time.Time { return time.Unix(s.Created, 0).UTC() }

// DecodeSpec reads a JSON spec (at most maxMessage bytes), fills defaults and
// validates it.
func DecodeSpec(b []byte) (Spec, error) {
	var s Spec
	if len(b) > maxMessage {
		return s, fmt.Errorf("job spec of %d bytes exceeds %d", len(b), maxMessage)
	}
	if err := jsonx.DecodeStrict(b, &s); err != nil {
		return s, fmt.Errorf("job spec: %w", err)
	}
	s.Fill()
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("job spec: %w", err)
	}
	return s, nil
}
