package mesh

import (
	"strings"
	"testing"
)

func goodPresence() Presence {
	return Presence{V: 1, Name: "box", Role: RoleFull, Version: "dev", Cores: 4, Mem: 1 << 30, Load: 0.5,
		Models: []string{"mlp"}, Jobs: []string{"j1"}, Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}, Boot: 1, Seq: 2}
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
	if q.Name != p.Name || q.Mem != p.Mem || q.Load != p.Load || q.Models[0] != "mlp" || q.Addrs[0] != p.Addrs[0] || q.Seq != 2 {
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
		{"neg boot", `{"v":1,"role":"full","boot":-5}`, "boot"},
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
