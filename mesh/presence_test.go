package mesh

import (
	"strings"
	"testing"
)

func goodPresence() Presence {
	return Presence{V: 1, Name: "box", Role: RoleFull, Version: "dev", Cores: 4, Mem: 1 << 30, Load: 0.5,
		Models: []string{"mlp"}, Jobs: []string{"j1"}, Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}, Boot: 1, Seq: 2,
		Served: []ServedModel{{Name: "mlp", Versions: []int{3, 2}, Int8: true, Queue: 4}}}
}

func TestPresenceRoundTrip(t *testing.T) {
	p := goodPresence()
	b, err := EncodePresence(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := DecodePresence(b)
	if err != nil {
		t.Fatal(err)
	}
	if q.Name != p.Name || q.Mem != p.Mem || q.Load != p.Load || q.Models[0] != "mlp" || q.Addrs[0] != p.Addrs[0] || q.Seq != 2 ||
		len(q.Served) != 1 || q.Served[0].Name != "mlp" || len(q.Served[0].Versions) != 2 || !q.Served[0].Int8 || q.Served[0].Queue != 4 {
		t.Fatalf("round trip: %+v != %+v", q, p)
	}
}

func TestDecodePresenceMalformed(t *testing.T) {
	long := strings.Repeat("a", 200)
	many := `["` + strings.Repeat(`m","`, 70) + `m"]`
	for _, tc := range []struct{ name, in, want string }{
		{"empty", ``, "empty JSON"},
		{"not json", `hello`, "malformed JSON at byte 1"},
		{"array", `[]`, "got array"},
		{"truncated", `{"v":1,"name":"a"`, "truncated"},
		{"trailing", `{"v":1,"role":"full"} {}`, "trailing data"},
		{"no version", `{"role":"full"}`, "version 0"},
		{"future version", `{"v":2,"role":"full"}`, "version 2"},
		{"bad role", `{"v":1,"role":"king"}`, "role"},
		{"long name", `{"v":1,"role":"full","name":"` + long + `"}`, "name of 200 bytes"},
		{"control char", `{"v":1,"role":"full","name":"a\u0007b"}`, "control character"},
		{"neg cores", `{"v":1,"role":"full","cores":-1}`, "cores"},
		{"huge cores", `{"v":1,"role":"full","cores":99999999}`, "cores"},
		{"neg load", `{"v":1,"role":"full","load":-1}`, "load"},
		{"huge load", `{"v":1,"role":"full","load":1e300}`, "load"},
		{"neg mem", `{"v":1,"role":"full","mem":-1}`, `field "mem"`},
		{"too many models", `{"v":1,"role":"full","models":` + many + `}`, "models"},
		{"empty model", `{"v":1,"role":"full","models":[""]}`, "empty entry"},
		{"bad addr", `{"v":1,"role":"full","addrs":["/nope/1"]}`, "bad addr"},
		{"wrong type", `{"v":"1","role":"full"}`, `field "v"`},
		{"too many served", `{"v":1,"role":"full","served":[` + strings.Repeat(`{"name":"m"},`, 64) + `{"name":"m"}]}`, "65 served models"},
		{"served no name", `{"v":1,"role":"full","served":[{"versions":[1]}]}`, "no name"},
		{"served long name", `{"v":1,"role":"full","served":[{"name":"` + strings.Repeat("n", 65) + `"}]}`, "name of 65 bytes"},
		{"served control char", `{"v":1,"role":"full","served":[{"name":"a\u0001"}]}`, "control character"},
		{"served version 0", `{"v":1,"role":"full","served":[{"name":"m","versions":[0]}]}`, "version 0 out of range"},
		{"served huge version", `{"v":1,"role":"full","served":[{"name":"m","versions":[4294967296]}]}`, "out of range"},
		{"served many versions", `{"v":1,"role":"full","served":[{"name":"m","versions":[` + strings.Repeat("1,", 16) + `1]}]}`, "17 versions"},
		{"served neg queue", `{"v":1,"role":"full","served":[{"name":"m","queue":-1}]}`, "queue -1"},
		{"served wrong type", `{"v":1,"role":"full","served":{"name":"m"}}`, `field "served"`},
		{"served version type", `{"v":1,"role":"full","served":[{"name":"m","versions":["1"]}]}`, `versions`},
		{"neg boot", `{"v":1,"role":"full","boot":-5}`, "boot"},
		{"neg publish time", `{"v":1,"role":"full","at":-1}`, "publish time"},
		{"too big", `{"v":1,"role":"full","name":"` + strings.Repeat("x", MaxPresenceSize) + `"}`, "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePresence([]byte(tc.in))
			if err == nil {
				t.Fatalf("accepted %q", tc.in)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestDecodePresenceIgnoresUnknownFields(t *testing.T) {
	p, err := DecodePresence([]byte(`{"v":1,"role":"edge","gpu":"none"}`))
	if err != nil || p.Role != RoleEdge {
		t.Fatalf("got %+v, %v", p, err)
	}
}

// An old peer's heartbeat (no served field) still decodes, and a newer
// one's unknown fields inside a served entry are ignored.
func TestDecodePresenceServedCompatible(t *testing.T) {
	p, err := DecodePresence([]byte(`{"v":1,"role":"full","models":["a"]}`))
	if err != nil || p.Served != nil {
		t.Fatalf("old heartbeat: %+v, %v", p, err)
	}
	p, err = DecodePresence([]byte(`{"v":1,"role":"full","served":[{"name":"a","versions":[2],"gpu":true}]}`))
	if err != nil || len(p.Served) != 1 || p.Served[0].Versions[0] != 2 {
		t.Fatalf("newer served entry: %+v, %v", p, err)
	}
}

// trimServed drops what the decoder would refuse and keeps 64 at most.
func TestTrimServed(t *testing.T) {
	var in []ServedModel
	in = append(in, ServedModel{Name: ""}, ServedModel{Name: "ok", Versions: []int{1}}, ServedModel{Name: strings.Repeat("x", 65)})
	for range 100 {
		in = append(in, ServedModel{Name: "m", Versions: []int{1}})
	}
	out := trimServed(in)
	if len(out) != maxListLen || out[0].Name != "ok" {
		t.Fatalf("trimServed kept %d, first %q", len(out), out[0].Name)
	}
}

func TestEncodePresenceRefusesInvalid(t *testing.T) {
	p := goodPresence()
	p.Role = "x"
	if _, err := EncodePresence(p); err == nil {
		t.Fatal("encoded an invalid presence")
	}
}

func FuzzDecodePresence(f *testing.F) {
	b, _ := EncodePresence(goodPresence())
	f.Add(b)
	f.Add([]byte(`{"v":1,"role":"edge"}`))
	f.Add([]byte(`{"v":1,"role":"full","addrs":["/ip4/1.2.3.4/tcp/1/ws"]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePresence(data)
		if err != nil {
			return
		}
		// What decodes must encode and decode to the same message.
		b, err := EncodePresence(p)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", data, err)
		}
		if _, err := DecodePresence(b); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

// A node serving more than a heartbeat can name cuts its served list
// rather than lose the heartbeat.
func TestPresenceCutsServedToFit(t *testing.T) {
	var served []ServedModel
	for i := range 64 {
		m := ServedModel{Name: strings.Repeat(string(rune('a'+i%26)), 64), Queue: i}
		for v := range 16 {
			m.Versions = append(m.Versions, 2_000_000_000-v)
		}
		served = append(served, m)
	}
	n, err := Start(t.Context(), Config{PSK: testKey(t, 7), PresenceExtra: func() PresenceExtra { return PresenceExtra{Served: served} }})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	p := n.presenceNow(false)
	if _, err := EncodePresence(p); err != nil {
		t.Fatalf("heartbeat does not encode: %v", err)
	}
	if len(p.Served) == 0 || len(p.Served) >= 64 {
		t.Fatalf("kept %d served models", len(p.Served))
	}
	if got := n.Self().Served; len(got) != len(p.Served) {
		t.Fatalf("Self has %d served, heartbeat %d", len(got), len(p.Served))
	}
}

// A heartbeat goes out at once when what peers act on changes, not when
// only the sequence, publish time, load or queue depths do.
func TestPresenceContentKey(t *testing.T) {
	p := goodPresence()
	q := goodPresence()
	q.Seq, q.At, q.Load = 99, 12345, 3
	q.Served[0].Queue = 40
	if p.contentKey() != q.contentKey() {
		t.Fatal("sequence, publish time, load or queue changed the content key")
	}
	if q.Served[0].Queue != 40 {
		t.Fatal("contentKey changed its receiver's served list")
	}
	for _, change := range []func(*Presence){
		func(p *Presence) { p.Jobs = append(p.Jobs, "j2") },
		func(p *Presence) { p.Models = nil },
		func(p *Presence) { p.Served[0].Versions = []int{4, 3} },
		func(p *Presence) { p.Addrs = []string{"/ip4/127.0.0.1/tcp/4002"} },
		func(p *Presence) { p.Boot++ },
	} {
		r := goodPresence()
		change(&r)
		if r.contentKey() == p.contentKey() {
			t.Fatalf("content key blind to a change: %+v", r)
		}
	}
}

// The heartbeat interval keeps its configured value up to cadenceFrom
// peers and grows by one every largeMeshRate peers beyond.
func TestCadenceScale(t *testing.T) {
	for _, tc := range []struct {
		size int
		want float64
	}{{1, 1}, {24, 1}, {30, 2}, {100, 1 + 76.0/6}} {
		if got := cadenceScaleFor(tc.size); got != tc.want {
			t.Errorf("cadenceScaleFor(%d) = %v, want %v", tc.size, got, tc.want)
		}
	}
}
