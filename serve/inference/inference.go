package inference

import (
	"context"
	"errors"
	"sync"

	"github.com/shoalmesh/shoal/engine/artifact"
)

// Errors a Catalog or a Model returns, wrapped with detail. Front-ends map
// them to status codes: ErrModelNotFound and ErrVersionNotFound 404,
// ErrBadInput 400, ErrOverloaded 429, ErrNotReady 503,
// context.DeadlineExceeded 504, anything else 500.
var (
	ErrModelNotFound   = errors.New("model not found")
	ErrVersionNotFound = errors.New("version not found")
	ErrBadInput        = errors.New("bad input")
	ErrOverloaded      = errors.New("overloaded")
	ErrNotReady        = errors.New("not ready")
)

// Version states, as TensorFlow Serving names them.
const (
	StateStart       = "START"
	StateLoading     = "LOADING"
	StateAvailable   = "AVAILABLE"
	StateUnloading   = "UNLOADING"
	StateEnd         = "END" // unloaded, or failed to load (Error says why)
	StateUnavailable = "UNAVAILABLE"
)

// Kinds of input a model takes (artifact.KindText, artifact.KindImage).
const (
	KindText  = artifact.KindText
	KindImage = artifact.KindImage
)

// Catalog is the set of model versions a server knows. Implementations are
// safe for concurrent use.
type Catalog interface {
	// Names lists the models with at least one known version, sorted.
	Names() []string
	// Lookup returns a loaded version of name: version when > 0, else the
	// version label points at when label != "", else the newest version
	// that loaded. Errors wrap ErrModelNotFound, ErrVersionNotFound (also
	// for an unknown label, or a version that failed to load) or
	// ErrNotReady (known, still loading).
	Lookup(name string, version int, label string) (Model, error)
	// Versions reports every version of name the catalog knows, newest
	// first, loaded or not. The error wraps ErrModelNotFound.
	Versions(name string) ([]VersionStatus, error)
	// Labels maps each label of name to its version.
	Labels(name string) (map[string]int, error)
}

// VersionStatus is one version's state.
type VersionStatus struct {
	Version int
	State   string // one of the State constants
	Error   string // why it is not AVAILABLE, when it failed
}

// Signature describes what a model takes and gives, for metadata answers
// and for checking requests before they reach the model.
type Signature struct {
	// Kind is KindText (one string an input) or KindImage (a numeric
	// vector an input).
	Kind string
	// InputShape is one input's shape without the batch: [28 28] for an
	// MNIST model (which also takes the flat [784]), [] for a text.
	InputShape []int
	// InputSize is the number of values in one numeric input (784).
	InputSize int
	// Labels name the classes, in the order of Prediction.Probabilities.
	Labels []string
	// Hash is the model file's content hash (SHA-256, hex).
	Hash string
	// Quantized says the weights are int8 (false: float32).
	Quantized bool
}

// Input is one request input: a string for text models, a []float32 of
// Signature.InputSize values for image models.
type Input = any

// Prediction is one input's answer.
type Prediction = artifact.Prediction

// Model is one loaded version of a model.
type Model interface {
	Name() string
	Version() int
	Signature() Signature
	// Check validates one input on its own (shape, type, finite values), so
	// a bad input can be refused before it joins a batch with others. The
	// error wraps ErrBadInput.
	Check(in Input) error
	// Predict answers a batch of inputs, each already Checked, in order.
	// It may wait for a shared forward pass (dynamic batching); ctx bounds
	// the wait. Errors wrap ErrOverloaded when the queue is full.
	Predict(ctx context.Context, inputs []Input) ([]Prediction, error)
}

// Route records which peer answered a request, for the Shoal-Served-By
// header and `served_by` in answers. A front-end puts one in the request's
// context (WithRoute) before Predict; a Model that forwards the request to
// another peer sets Peer; a local answer leaves it empty.
type Route struct {
	mu   sync.Mutex
	peer string
}

// SetPeer records the peer (its id, or name) that answered.
func (r *Route) SetPeer(p string) {
	r.mu.Lock()
	r.peer = p
	r.mu.Unlock()
}

// Peer is the peer that answered, "" when the request was answered here.
func (r *Route) Peer() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peer
}

type routeKey struct{}

// WithRoute returns ctx carrying a fresh Route, and the Route.
func WithRoute(ctx context.Context) (context.Context, *Route) {
	r := &Route{}
	return context.WithValue(ctx, routeKey{}, r), r
}

// RouteOf is the Route in ctx, nil when there is none.
func RouteOf(ctx context.Context) *Route {
	r, _ := ctx.Value(routeKey{}).(*Route)
	return r
}

// ServedByHeader names the answering peer in HTTP answers.
const ServedByHeader = "Shoal-Served-By"
