package job

import (
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/shoalmesh/shoal/engine/train"
)

// A private-data job trains each peer on data of its own, and only its
// own operator may say which: were a peer to read the path the submitter
// wrote in the spec, any member could make every peer train on any file
// it can read and then share what it learnt from it. So a private job's
// Data is a name, and each peer trains only on the path its operator
// gave that name (shoal up --private-data NAME=PATH); a peer without one
// does not take part.

// ErrNoPrivateData says this peer's operator named no data for a private
// job.
var ErrNoPrivateData = errors.New("no private data named here")

// PrivateDataByName returns a Config.PrivateData that maps a private
// job's Data name to the operator's path for it ("" for names not given).
func PrivateDataByName(paths map[string]string) func(Spec) string {
	paths = maps.Clone(paths)
	return func(s Spec) string { return paths[s.Data] }
}

// ParsePrivateData reads NAME=PATH pairs, as `shoal up --private-data`
// takes them; a name given twice is refused.
func ParsePrivateData(pairs []string) (map[string]string, error) {
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		name, path, ok := strings.Cut(p, "=")
		switch {
		case !ok || name == "" || path == "":
			return nil, fmt.Errorf("--private-data %q: want NAME=PATH", p)
		case out[name] != "":
			return nil, fmt.Errorf("--private-data: %q named twice", name)
		}
		out[name] = path
	}
	return out, nil
}

// privatePath is where this peer reads a private job's data: the path its
// operator gave the job's Data name.
func (m *Manager) privatePath(spec Spec) (string, error) {
	path := ""
	if m.cfg.PrivateData != nil {
		path = m.cfg.PrivateData(spec)
	}
	if path == "" {
		return "", fmt.Errorf("%w: private job data %q (start shoal up with --private-data %s=PATH to take part)", ErrNoPrivateData, spec.Data, spec.Data)
	}
	return path, nil
}

// cut is Cut on the data this peer reads for spec: the spec's path, or for
// a private job the path this peer's operator named.
func (m *Manager) cut(spec Spec) (Manifest, *train.Prepared, error) {
	if spec.Private {
		path, err := m.privatePath(spec)
		if err != nil {
			return Manifest{}, nil, err
		}
		spec.Data = path
	}
	return Cut(spec, m.shards)
}
