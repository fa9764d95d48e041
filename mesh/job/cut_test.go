package job

import (
	"testing"

	"github.com/shoalmesh/shoal/engine/data/datatest"
	"github.com/shoalmesh/shoal/mesh/shards"
)

// TestCutListsIdenticalShardsOnce: DaysTSV repeats every 70 rows, so with
// 40-row shards its 8th training shard is byte-identical to its 1st. The
// manifest names it once (it used to name it twice, and every peer
// refused the announcement), and counts its rows once.
func TestCutListsIdenticalShardsOnce(t *testing.T) {
	spec := Spec{Model: "seed-text", Data: datatest.DaysTSV(t, 400), Holdout: 0.2, ShardRows: 40, Epochs: 1}
	spec.Fill()
	store, err := shards.NewStore("")
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := Cut(spec, store)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Shards) != 7 || m.TrainRows != 280 {
		t.Fatalf("%d shards, %d rows; want 7 distinct shards of 40 rows", len(m.Shards), m.TrainRows)
	}
	spec.Submitter, spec.Created, spec.Batch = "x", 1, 32
	spec.assignID()
	ann := Announcement{Spec: spec, Manifest: m}
	if err := ann.validate(); err != nil {
		t.Fatalf("the manifest does not validate: %v", err)
	}
}
