package job

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePrivateData(t *testing.T) {
	m, err := ParsePrivateData([]string{"clinic=/data/a.tsv", "reviews=/srv/r.tsv=x"})
	if err != nil || m["clinic"] != "/data/a.tsv" || m["reviews"] != "/srv/r.tsv=x" {
		t.Fatalf("%v, %v", m, err)
	}
	for _, bad := range [][]string{{"clinic"}, {"=/x"}, {"clinic="}, {"a=/x", "a=/y"}} {
		if _, err := ParsePrivateData(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	f := PrivateDataByName(m)
	if f(Spec{Data: "clinic"}) != "/data/a.tsv" || f(Spec{Data: "/etc/passwd"}) != "" {
		t.Error("PrivateDataByName maps a name it was not given")
	}
}

// TestPrivateJobNeverReadsTheSubmittersPath: a peer whose operator named
// nothing refuses a private job, whatever path its spec carries, both as
// submitter and as member; a named one reads its operator's path.
func TestPrivateJobNeverReadsTheSubmittersPath(t *testing.T) {
	spec := Spec{Data: "/etc/passwd", Private: true}
	for _, m := range []*Manager{{}, {cfg: Config{PrivateData: PrivateDataByName(map[string]string{"clinic": "/data/a.tsv"})}}} {
		if _, err := m.privatePath(spec); !errors.Is(err, ErrNoPrivateData) || !strings.Contains(err.Error(), "--private-data") {
			t.Errorf("privatePath = %v, want ErrNoPrivateData naming the flag", err)
		}
		if _, _, err := m.cut(spec); !errors.Is(err, ErrNoPrivateData) {
			t.Errorf("cut = %v, want ErrNoPrivateData before any file is read", err)
		}
	}
	m := &Manager{cfg: Config{PrivateData: PrivateDataByName(map[string]string{"clinic": "/data/a.tsv"})}}
	if p, err := m.privatePath(Spec{Data: "clinic", Private: true}); err != nil || p != "/data/a.tsv" {
		t.Errorf("named data: %q, %v", p, err)
	}
}
