package job

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/mesh/shards"
)

func validAnnouncement() Announcement {
	s := Spec{Model: "mlp", Data: "/data/mnist", Epochs: 3, Batch: 64, MinPeers: 8}
	s.Fill()
	s.assignID()
	a := shards.Sum([]byte("a")).String()
	b := shards.Sum([]byte("b")).String()
	p := shards.Sum([]byte("probe")).String()
	return Announcement{Spec: s, Manifest: Manifest{
		Kind: "image", Labels: []string{"0", "1"}, SampleShape: []int{784},
		Shards: []ShardRef{{a, 10}, {b, 5}}, Probe: ShardRef{p, 3}, TrainRows: 15,
	}}
}

func TestMessagesRoundTrip(t *testing.T) {
	b, err := encodeAnnouncement(validAnnouncement())
	if err != nil {
		t.Fatal(err)
	}
	env, err := decodeMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if env.Announce.Spec.ID != validAnnouncement().Spec.ID || env.Announce.Manifest.TrainRows != 15 {
		t.Fatalf("announcement changed in transit: %+v", env.Announce)
	}
	st := Status{Job: env.Announce.Spec.ID, State: StateTraining, Step: 3, Have: []string{shards.Sum(nil).String()}}
	if b, err = encodeStatus(st); err != nil {
		t.Fatal(err)
	}
	if env, err = decodeMessage(b); err != nil || env.Status.Step != 3 {
		t.Fatalf("status: %v %+v", err, env.Status)
	}
}

func TestDecodeMessageMalformed(t *testing.T) {
	mutate := func(f func(a *Announcement)) string {
		a := validAnnouncement()
		f(&a)
		b, err := encodeEnvelope(envelope{V: messageVersion, Kind: kindAnnounce, Announce: &a})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// resigned is mutate with the id hashing the changed spec again: well
	// formed, field by field in range, and still the sender's fault.
	resigned := func(f func(a *Announcement)) string {
		return mutate(func(a *Announcement) { f(a); a.Spec.assignID() })
	}
	id := validAnnouncement().Spec.ID
	cases := []struct{ name, in, want string }{
		{"empty", ``, "empty JSON"},
		{"not json", `hello`, "invalid character"},
		{"trailing", `{"v":1,"kind":"status","status":{"job":"` + id + `","state":"joined"}} {}`, "trailing"},
		{"unknown field", `{"v":1,"kind":"status","extra":1}`, "unknown field"},
		{"stray bracket", `{"v":1,"kind":"status","status":{"job":"` + id + `","state":"joined"}} }`, "trailing"},
		{"wrong version", `{"v":2,"kind":"status","status":{"job":"` + id + `","state":"joined"}}`, "version"},
		{"unknown kind", `{"v":1,"kind":"gossip"}`, "unknown kind"},
		{"status without body", `{"v":1,"kind":"status"}`, "without its body"},
		{"bad job id", `{"v":1,"kind":"status","status":{"job":"../x","state":"joined"}}`, "bad job id"},
		{"unknown state", `{"v":1,"kind":"status","status":{"job":"` + id + `","state":"dancing"}}`, "unknown state"},
		{"negative step", `{"v":1,"kind":"status","status":{"job":"` + id + `","state":"joined","step":-1}}`, "negative"},
		{"bad have", `{"v":1,"kind":"status","status":{"job":"` + id + `","state":"joined","have":["xyz"]}}`, "hex digits"},
		{"no model", mutate(func(a *Announcement) { a.Spec.Model = "" }), "no model"},
		{"zero epochs", mutate(func(a *Announcement) { a.Spec.Epochs = 0 }), "epochs"},
		{"huge batch", mutate(func(a *Announcement) { a.Spec.Batch = 1 << 30 }), "batch"},
		{"no batch", mutate(func(a *Announcement) { a.Spec.Batch = 0 }), "batch"},
		{"bad compress", mutate(func(a *Announcement) { a.Spec.Compress = "zip" }), "compress"},
		{"bad robust", mutate(func(a *Announcement) { a.Spec.Robust = "pray" }), "robust"},
		{"path in name", mutate(func(a *Announcement) { a.Spec.Name = "../etc" }), "name"},
		{"data kind", mutate(func(a *Announcement) { a.Manifest.Kind = "audio" }), "data kind"},
		{"text without tokenizer", mutate(func(a *Announcement) { a.Manifest.Kind = "text" }), "tokenizer"},
		{"no shards", mutate(func(a *Announcement) { a.Manifest.Shards = nil; a.Manifest.TrainRows = 0 }), "no shards"},
		{"row mismatch", mutate(func(a *Announcement) { a.Manifest.TrainRows = 99 }), "rows"},
		{"duplicate shard", mutate(func(a *Announcement) { a.Manifest.Shards[1] = a.Manifest.Shards[0] }), "twice"},
		{"shape", mutate(func(a *Announcement) { a.Manifest.SampleShape = []int{0} }), "sample shape"},
		{"id not the spec's hash", mutate(func(a *Announcement) { a.Spec.Epochs = 999 }), "not the hash of its spec"},
		{"another job's id", mutate(func(a *Announcement) { a.Spec.ID = strings.Repeat("ab", 8) }), "not the hash of its spec"},
		{"unknown preset", resigned(func(a *Announcement) { a.Spec.Model = "nosuch" }), "job model"},
		{"inline spec not a spec", resigned(func(a *Announcement) { a.Spec.ModelSpec = []byte(`{"input":[784]}`) }), "no layers"},
		{"over the parameter cap", resigned(func(a *Announcement) {
			// 2^20 inputs × 2^10 units: 2^30 parameters, 8× nn.MaxParams.
			a.Spec.ModelSpec = []byte(`{"input":[1048576],"layers":[{"type":"dense","units":1024},{"type":"dense","units":2}]}`)
			a.Manifest.SampleShape = []int{1 << 20}
		}), "parameters"},
		{"model and data disagree", resigned(func(a *Announcement) { a.Manifest.SampleShape = []int{28, 29} }), "values per sample"},
		{"oversized", `{"v":1,"kind":"status","status":{"job":"` + id + `","state":"joined","error":"` + strings.Repeat("x", maxMessage) + `"}}`, "exceeds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeMessage([]byte(c.in))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func FuzzDecodeMessage(f *testing.F) {
	b, _ := encodeAnnouncement(validAnnouncement())
	f.Add(b)
	st, _ := encodeStatus(Status{Job: validAnnouncement().Spec.ID, State: StateDone, Hash: "ab"})
	f.Add(st)
	tampered := validAnnouncement()
	tampered.Spec.Epochs = 999 // the id no longer hashes the spec
	b, _ = encodeAnnouncement(tampered)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := decodeMessage(b)
		if err != nil {
			return
		}
		if env.Kind == kindAnnounce {
			// The validator passes only what every peer could admit: an id
			// that hashes the spec, a model that can be sized.
			check := env.Announce.Spec
			check.assignID()
			if check.ID != env.Announce.Spec.ID {
				t.Fatalf("accepted id %s of a spec hashing to %s", env.Announce.Spec.ID, check.ID)
			}
			if _, err := EstimateBytes(env.Announce.Spec, env.Announce.Manifest); err != nil {
				t.Fatalf("accepted an announcement that cannot be sized: %v", err)
			}
		}
		// What decodes must encode and decode again to the same kind.
		again, err := encodeEnvelope(env)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if env2, err := decodeMessage(again); err != nil || env2.Kind != env.Kind {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func TestDecodeSpec(t *testing.T) {
	s, err := DecodeSpec([]byte(`{"model":"mlp","data":"/d","epochs":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.LocalSteps != 10 || s.Replication != 2 || s.Optimizer != "adam" || s.Name != "mlp" {
		t.Fatalf("defaults not filled: %+v", s)
	}
	for _, bad := range []string{`{"model":"mlp"}`, `{"model":"mlp","data":"/d","lr":-1}`, `{"model":"mlp","data":"/d","colour":"red"}`, `[]`, `{"model":"mlp","data":"/d"} ]`} {
		if _, err := DecodeSpec([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestStepBudget(t *testing.T) {
	s := Spec{Epochs: 3, Batch: 64}
	if got := stepBudget(s, 60000, 8); got != 352 { // ceil(3*60000/(8*64))
		t.Fatalf("budget %d, want 352", got)
	}
	if got := stepBudget(s, 60000, 1); got != 2813 {
		t.Fatalf("budget %d, want 2813", got)
	}
}

// job.json in the data dir is read back on restart (resume): a damaged or
// hand-edited file must be refused with a reason, never start a job.
func TestDecodeAnnouncementFileMalformed(t *testing.T) {
	good, err := json.Marshal(validAnnouncement())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeAnnouncementFile(good); err != nil {
		t.Fatalf("valid file refused: %v", err)
	}
	cases := []struct{ name, in, want string }{
		{"empty", ``, "empty JSON"},
		{"truncated", string(good[:len(good)/2]), "truncated"},
		{"not an object", `[1,2]`, "got array"},
		{"no spec", `{"manifest":{}}`, "bad job id"},
		{"bad id", strings.Replace(string(good), validAnnouncement().Spec.ID, "zz", 1), "bad job id"},
		{"oversized", `{"spec":{"name":"` + strings.Repeat("x", maxMessage) + `"}}`, "exceeds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodeAnnouncementFile([]byte(c.in))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func FuzzDecodeAnnouncementFile(f *testing.F) {
	good, _ := json.Marshal(validAnnouncement())
	f.Add(good)
	f.Add([]byte(`{"spec":{},"manifest":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ann, err := decodeAnnouncementFile(b)
		if err != nil {
			return
		}
		// What is accepted must survive persist's encoding unchanged in meaning.
		again, err := json.Marshal(ann)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if ann2, err := decodeAnnouncementFile(again); err != nil || ann2.Spec.ID != ann.Spec.ID {
			t.Fatalf("round trip: %v", err)
		}
	})
}
