package mesh

import (
	"log/slog"
	"math"
	"net"
	"slices"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// GossipSub peer scoring (issue 16): a member holds the mesh key, so the
// key alone cannot stop one that misbehaves. Every peer scores the peers
// it exchanges gossip with, and one whose score falls is first left out of
// gossip, then of publishing, then ignored altogether (graylisted; its
// RPCs are dropped unread), and pruned from every topic mesh as soon as
// its score is negative. The score rewards little (time in a topic's mesh,
// first deliveries, both capped) and punishes:
//   - P4, invalid messages: each message a topic validator rejects counts
//     against the peer that sent it (squared, decaying);
//   - P5, the operator's deny list: a denied peer scores scoreDenied;
//   - P6, IP colocation: more than colocationThreshold peers behind one
//     address (a Sybil on one machine), except loopback, where a test mesh
//     or several local nodes legitimately share 127.0.0.1;
//   - P7, the router's own misbehaviour counters (grafting during a
//     backoff, IHAVEs never followed up).
//
// Mesh-delivery penalties (P3, P3b) stay off: presence and job messages
// are few and bursty, and a quiet but honest peer would be pruned for
// delivering too little.
const (
	// The thresholds, in order. One invalid message costs
	// invalidMessageWeight, n of them n² times that (the count decaying
	// with a half-life of about a minute), so a peer whose newer version
	// sends a message an older one rejects now and then loses a few
	// points, while a flood crosses all three within five messages. Once
	// graylisted nothing more of it is read, so its count only decays: it
	// gets one message in about every 22 s after that (the count of 5
	// decaying below 4: ln 0.8 / ln 0.99), which is not a flood.
	//
	// GossipSub also counts as invalid a peer's own messages given back
	// to it (RejectSelfOrigin): a peer restarted with its identity asks
	// for its last ones, and graylisted the whole mesh for answering.
	// echo.go drops them before the router sees them. A lower weight was
	// no fix: a burst of invalid messages is only partly counted (about
	// 5 by some peers of 40 or 200 sent), and at -1 a flooder was no
	// longer always graylisted.
	scoreGossipThreshold   = -10
	scorePublishThreshold  = -50
	scoreGraylistThreshold = -80
	invalidMessageWeight   = -5
	invalidMessageDecay    = 0.99 // per scoreDecayInterval: half-life ~69 s
	// scoreDenied is a denied peer's application score: below the graylist
	// threshold on its own, so a denied peer's gossip, relayed or not, is
	// dropped before any validator runs.
	scoreDenied = -1000

	scoreDecayInterval  = time.Second
	scoreDecayToZero    = 0.01
	scoreRetain         = 10 * time.Minute // a pruned peer that reconnects keeps its score
	topicScoreCap       = 10
	colocationWeight    = -5
	colocationThreshold = 8
	behaviourWeight     = -1
	behaviourThreshold  = 10
	behaviourDecay      = 0.99

	// scoreInspectEvery is how often the scores are copied out for
	// PeerScore and the graylist log lines.
	scoreInspectEvery = time.Second
)

// colocationWhitelist are the addresses exempt from the IP-colocation
// penalty: loopback, where every peer of one machine shares an address.
// The fault harness's namespaces give every peer an address of its own,
// and its proxies connect from loopback, so they need no entry.
var colocationWhitelist = []*net.IPNet{
	{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
	{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
}

// topicScoreParams are the score parameters of every topic of the mesh
// (presence and those joined through JoinTopic).
func topicScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight: 1,
		// P1: up to 1 point after 100 s in the mesh.
		TimeInMeshWeight: 0.1, TimeInMeshQuantum: 10 * time.Second, TimeInMeshCap: 10,
		// P2: up to 5 points for delivering messages first.
		FirstMessageDeliveriesWeight: 0.5, FirstMessageDeliveriesDecay: 0.9, FirstMessageDeliveriesCap: 10,
		// P3 and P3b off (weight 0, see above).
		// P4.
		InvalidMessageDeliveriesWeight: invalidMessageWeight, InvalidMessageDeliveriesDecay: invalidMessageDecay,
	}
}

// peerScoreOptions are the GossipSub options that turn scoring on, for
// presence's topic (the others are added by JoinTopic); denied decides
// P5, sk receives the scores.
func peerScoreOptions(presence string, denied func(peer.ID) bool, sk *scoreKeeper) []pubsub.Option {
	params := &pubsub.PeerScoreParams{
		Topics:        map[string]*pubsub.TopicScoreParams{presence: topicScoreParams()},
		TopicScoreCap: topicScoreCap,
		AppSpecificScore: func(p peer.ID) float64 {
			if denied(p) {
				return scoreDenied
			}
			return 0
		},
		AppSpecificWeight:           1,
		IPColocationFactorWeight:    colocationWeight,
		IPColocationFactorThreshold: colocationThreshold,
		IPColocationFactorWhitelist: colocationWhitelist,
		BehaviourPenaltyWeight:      behaviourWeight,
		BehaviourPenaltyThreshold:   behaviourThreshold,
		BehaviourPenaltyDecay:       behaviourDecay,
		DecayInterval:               scoreDecayInterval,
		DecayToZero:                 scoreDecayToZero,
		RetainScore:                 scoreRetain,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		GossipThreshold:   scoreGossipThreshold,
		PublishThreshold:  scorePublishThreshold,
		GraylistThreshold: scoreGraylistThreshold,
		// PX (peer exchange on prune) from any peer not scored down; and
		// no opportunistic grafting, which only helps when many mesh
		// peers score low for delivering little (P3 is off).
		AcceptPXThreshold:           0,
		OpportunisticGraftThreshold: 0,
	}
	return []pubsub.Option{
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithPeerScoreInspect(pubsub.ExtendedPeerScoreInspectFn(sk.inspect), scoreInspectEvery),
	}
}

// scoreKeeper holds the latest scores the router reported and logs a peer
// crossing the graylist threshold, either way.
type scoreKeeper struct {
	log *slog.Logger

	mu         sync.Mutex
	scores     map[peer.ID]*pubsub.PeerScoreSnapshot
	at         time.Time // when the router reported scores
	graylisted map[peer.ID]bool
}

func newScoreKeeper(log *slog.Logger) *scoreKeeper {
	return &scoreKeeper{log: log, graylisted: map[peer.ID]bool{}}
}

func (sk *scoreKeeper) inspect(scores map[peer.ID]*pubsub.PeerScoreSnapshot) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	sk.scores, sk.at = scores, time.Now()
	for p, s := range scores {
		bad := s.Score < scoreGraylistThreshold
		if bad == sk.graylisted[p] {
			continue
		}
		if bad {
			sk.graylisted[p] = true
			sk.log.Warn("peer graylisted: its gossip is ignored and it is pruned from every topic", "peer", p.String(),
				"score", math.Round(s.Score), "invalid_messages", invalidCount(s), "app", s.AppSpecificScore)
		} else {
			delete(sk.graylisted, p)
			sk.log.Info("peer no longer graylisted", "peer", p.String(), "score", math.Round(s.Score))
		}
	}
	// Peers the router forgot (gone past RetainScore) leave the set.
	for p := range sk.graylisted {
		if _, ok := scores[p]; !ok {
			delete(sk.graylisted, p)
		}
	}
}

// invalidCount is the (decayed) count of invalid messages over topics.
func invalidCount(s *pubsub.PeerScoreSnapshot) float64 {
	n := 0.0
	for _, t := range s.Topics {
		n += t.InvalidMessageDeliveries
	}
	return math.Round(n*10) / 10
}

// PeerScore is id's GossipSub score as this node's router last reported
// it (at most a second old) and whether it has one (only peers it
// exchanges gossip with do). Below zero the peer is pruned from the topic
// meshes; below -80 its gossip is ignored.
func (n *Node) PeerScore(id peer.ID) (float64, bool) {
	n.scores.mu.Lock()
	defer n.scores.mu.Unlock()
	s, ok := n.scores.scores[id]
	if !ok {
		return 0, false
	}
	return s.Score, true
}

// ScoreReport is what this node's router last reported of one peer's
// GossipSub score (PeerScoreReport).
type ScoreReport struct {
	Score float64
	// InvalidMessages is the decayed count, over topics, of the peer's
	// messages a topic validator rejected (P4).
	InvalidMessages float64
	// Meshes are the topics (full names, as Node.Topic gives them) whose
	// mesh here the peer is grafted in, for a decay interval at least (the
	// router counts mesh time on its decay ticks).
	Meshes []string
	// At is when the router reported it.
	At time.Time
}

// Graylisted says whether the score is below the graylist threshold: the
// peer's gossip is ignored.
func (r ScoreReport) Graylisted() bool { return r.Score < scoreGraylistThreshold }

// PeerScoreReport is PeerScore with what the score is made of.
func (n *Node) PeerScoreReport(id peer.ID) (ScoreReport, bool) {
	n.scores.mu.Lock()
	defer n.scores.mu.Unlock()
	s, ok := n.scores.scores[id]
	if !ok {
		return ScoreReport{}, false
	}
	r := ScoreReport{Score: s.Score, At: n.scores.at}
	for name, t := range s.Topics {
		r.InvalidMessages += t.InvalidMessageDeliveries
		if t.TimeInMesh > 0 {
			r.Meshes = append(r.Meshes, name)
		}
	}
	slices.Sort(r.Meshes)
	return r, true
}
