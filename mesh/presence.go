package mesh

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalmesh/shoal/engine/clip"
	"github.com/shoalmesh/shoal/engine/jsonx"
)

// PresenceVersion is the presence message format. A peer refuses other
// versions; fields may be added within a version (unknown ones are ignored),
// never renamed or given a new meaning.
const PresenceVersion = 1

// Limits on a presence message. Presence is sent every heartbeat by every
// peer and relayed by GossipSub, so it must stay small.
const (
	MaxPresenceSize  = 8 << 10
	maxNameLen       = 64
	maxVersionLen    = 64
	maxListLen       = 64  // models, jobs
	maxItemLen       = 128 // one model or job name
	maxPresenceAddrs = 16
	maxAddrLen       = 256
	maxCores         = 1 << 16
	maxLoad          = 1e6 // per core; beyond it a value is nonsense
	// Served models: at most maxListLen of them, names of at most
	// maxServedNameLen bytes, maxServedVersions versions each.
	maxServedNameLen  = 64
	maxServedVersions = 16
	maxServedVersion  = 1<<31 - 1
	maxQueueDepth     = 1 << 24
)

// ServedModel is one model a peer answers queries for, as its heartbeats
// announce it. Peers older than the field ignore it.
type ServedModel struct {
	Name string `json:"name"`
	// Versions are the loaded (AVAILABLE) versions, newest first.
	Versions []int `json:"versions"`
	// Int8 says the newest loaded version's weights are int8
	// (inference.Signature.Quantized); false: float32.
	Int8 bool `json:"int8,omitempty"`
	// Queue is the number of requests waiting for the model on that peer,
	// 0 where unknown.
	Queue int `json:"queue,omitempty"`
}

// Roles a peer may announce.
const (
	RoleFull = "full"
	RoleEdge = "edge"
)

// Presence is the heartbeat a node publishes on its mesh's presence topic.
// The sender's peer id is not in the body: it is the message's signed
// origin (StrictSign), so it cannot be forged.
type Presence struct {
	V       int      `json:"v"`
	Name    string   `json:"name"`
	Role    string   `json:"role"`
	Version string   `json:"version"`
	Cores   int      `json:"cores"`
	Mem     uint64   `json:"mem"`
	Load    float64  `json:"load"`
	Models  []string `json:"models,omitempty"`
	Jobs    []string `json:"jobs,omitempty"`
	// Served lists the models the sender answers queries for (added
	// within version 1: older peers ignore it).
	Served []ServedModel `json:"served,omitempty"`
	// Addrs are the sender's listen addresses (without /p2p), so peers that
	// hear it through gossip can dial it directly.
	Addrs []string `json:"addrs,omitempty"`
	// Boot (unix nanoseconds at start) and Seq order heartbeats: a later
	// incarnation or a higher sequence number wins over what a peer holds.
	Boot int64  `json:"boot"`
	Seq  uint64 `json:"seq"`
	// At is when the sender published this heartbeat (unix nanoseconds;
	// added within version 1, 0 from older peers). A heartbeat heard
	// through gossip that is this fresh by the receiver's clock is no
	// replay of an old one, so its sender is listed at once (peers.go);
	// a receiver whose clock is off just waits for a second heartbeat.
	At int64 `json:"at,omitempty"`
	// Leaving is set in the last heartbeat of a node that shuts down
	// cleanly, so others drop it at once rather than after a timeout.
	Leaving bool `json:"leaving,omitempty"`
}

// EncodePresence validates p and renders it; it fails where DecodePresence
// would refuse the result.
func EncodePresence(p Presence) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxPresenceSize {
		return nil, fmt.Errorf("presence: %d bytes, limit %d", len(b), MaxPresenceSize)
	}
	return b, nil
}

// DecodePresence parses and validates one presence message. It never
// panics; every refusal names the problem.
func DecodePresence(b []byte) (Presence, error) {
	var p Presence
	if len(b) > MaxPresenceSize {
		return p, fmt.Errorf("presence: %d bytes, limit %d", len(b), MaxPresenceSize)
	}
	// Not strict: fields may be added within a version, and an older peer
	// must still hear a newer one.
	if err := jsonx.Decode(b, &p); err != nil {
		return Presence{}, fmt.Errorf("presence: %w", err)
	}
	if err := p.validate(); err != nil {
		return Presence{}, err
	}
	return p, nil
}

func (p *Presence) validate() error {
	if p.V != PresenceVersion {
		return fmt.Errorf("presence: version %d, want %d", p.V, PresenceVersion)
	}
	if err := checkText("name", p.Name, maxNameLen); err != nil {
		return err
	}
	if p.Role != RoleFull && p.Role != RoleEdge {
		return fmt.Errorf("presence: role %q, want %q or %q", quoted(p.Role), RoleFull, RoleEdge)
	}
	if err := checkText("version", p.Version, maxVersionLen); err != nil {
		return err
	}
	if p.Cores < 0 || p.Cores > maxCores {
		return fmt.Errorf("presence: cores %d out of range [0, %d]", p.Cores, maxCores)
	}
	if math.IsNaN(p.Load) || math.IsInf(p.Load, 0) || p.Load < 0 || p.Load > maxLoad {
		return fmt.Errorf("presence: load %v out of range", p.Load)
	}
	if err := checkList("models", p.Models, maxListLen); err != nil {
		return err
	}
	if err := checkList("jobs", p.Jobs, maxListLen); err != nil {
		return err
	}
	if len(p.Served) > maxListLen {
		return fmt.Errorf("presence: %d served models, limit %d", len(p.Served), maxListLen)
	}
	for i := range p.Served {
		if err := p.Served[i].validate(); err != nil {
			return err
		}
	}
	if len(p.Addrs) > maxPresenceAddrs {
		return fmt.Errorf("presence: %d addrs, limit %d", len(p.Addrs), maxPresenceAddrs)
	}
	for _, a := range p.Addrs {
		if len(a) > maxAddrLen {
			return fmt.Errorf("presence: addr of %d bytes, limit %d", len(a), maxAddrLen)
		}
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("presence: bad addr %q: %v", quoted(a), err)
		}
	}
	if p.Boot < 0 {
		return fmt.Errorf("presence: negative boot time %d", p.Boot)
	}
	if p.At < 0 {
		return fmt.Errorf("presence: negative publish time %d", p.At)
	}
	return nil
}

// contentKey is p without what changes at every heartbeat (sequence,
// publish time, load, queue depths): when it changes, peers have
// something to act on and the heartbeat goes out at once.
func (p Presence) contentKey() string {
	p.Seq, p.At, p.Load = 0, 0, 0
	p.Served = cloneServed(p.Served)
	for i := range p.Served {
		p.Served[i].Queue = 0
	}
	b, _ := json.Marshal(p)
	return string(b)
}

func (m *ServedModel) validate() error {
	if m.Name == "" {
		return fmt.Errorf("presence: served model with no name")
	}
	if err := checkText("served model name", m.Name, maxServedNameLen); err != nil {
		return err
	}
	if len(m.Versions) > maxServedVersions {
		return fmt.Errorf("presence: served model %q: %d versions, limit %d", quoted(m.Name), len(m.Versions), maxServedVersions)
	}
	for _, v := range m.Versions {
		if v <= 0 || v > maxServedVersion {
			return fmt.Errorf("presence: served model %q: version %d out of range [1, %d]", quoted(m.Name), v, maxServedVersion)
		}
	}
	if m.Queue < 0 || m.Queue > maxQueueDepth {
		return fmt.Errorf("presence: served model %q: queue %d out of range [0, %d]", quoted(m.Name), m.Queue, maxQueueDepth)
	}
	return nil
}

func checkText(field, s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("presence: %s of %d bytes, limit %d", field, len(s), limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("presence: %s is not valid UTF-8", field)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("presence: %s contains a control character", field)
		}
	}
	return nil
}

func checkList(field string, list []string, limit int) error {
	if len(list) > limit {
		return fmt.Errorf("presence: %d %s, limit %d", len(list), field, limit)
	}
	for _, s := range list {
		if s == "" {
			return fmt.Errorf("presence: empty entry in %s", field)
		}
		if err := checkText(field+" entry", s, maxItemLen); err != nil {
			return err
		}
	}
	return nil
}

// quoted shortens untrusted text quoted in an error.
func quoted(s string) string {
	if len(s) > maxQuotedLen {
		return clip.String(s, maxQuotedLen) + "…"
	}
	return s
}
