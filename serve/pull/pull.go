package pull

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelstore"
)

// Defaults of the options, with their reasons.
const (
	// defaultServeTimeout bounds one answer on the serving side, so a
	// stalled client cannot pin a stream: 1 GiB at 30 Mbit/s.
	defaultServeTimeout = 5 * time.Minute
	// defaultMaxServing bounds the answers in flight at once; a further
	// request is refused as busy (the puller tries another holder).
	defaultMaxServing = 4
	// ioBuffer is the size of the buffered reader and writer on a stream.
	ioBuffer = 256 << 10
)

type config struct {
	maxBytes     int64
	serveTimeout time.Duration
	maxServing   int
	admit        func(size int64) error
}

func newConfig(opts []Option) (config, error) {
	c := config{maxBytes: DefaultMaxBytes, serveTimeout: defaultServeTimeout, maxServing: defaultMaxServing}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Option configures Serve, Fetch and FetchAny.
type Option func(*config) error

// WithMaxBytes sets the size limit of a model file (default
// DefaultMaxBytes): a server does not send a bigger one, a client refuses
// one announced bigger.
func WithMaxBytes(n int64) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("pull: max bytes %d must be positive", n)
		}
		c.maxBytes = n
		return nil
	}
}

// WithAdmit has Download and Fetch offer the size a peer announces to
// check before the file is transferred; an error from it ends the pull
// (wrapped), so a file that cannot be kept is not sent at all.
func WithAdmit(check func(size int64) error) Option {
	return func(c *config) error {
		c.admit = check
		return nil
	}
}

// WithServeTimeout bounds one answer on the serving side (default 5 min).
func WithServeTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("pull: serve timeout %v must be positive", d)
		}
		c.serveTimeout = d
		return nil
	}
}

// WithMaxServing bounds how many answers a server sends at once (default 4).
func WithMaxServing(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("pull: max serving %d must be positive", n)
		}
		c.maxServing = n
		return nil
	}
}

// Serve registers proto (the mesh's full id of ProtocolName) on h,
// answering from store. It returns a function that unregisters it.
func Serve(h host.Host, proto protocol.ID, store *modelstore.Store, opts ...Option) (stop func(), err error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	slots := make(chan struct{}, c.maxServing)
	h.SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(c.serveTimeout))
		name, ref, err := readRequest(bufio.NewReaderSize(s, 512))
		if err != nil {
			_ = s.Reset()
			return
		}
		w := bufio.NewWriterSize(s, ioBuffer)
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		default:
			_, _ = w.Write(appendRefusal(nil, statusError, "busy: too many pulls at once"))
			_ = w.Flush()
			return
		}
		if err := answer(w, store, name, ref, c.maxBytes); err != nil {
			_ = s.Reset()
			return
		}
		_ = w.Flush()
	})
	return func() { h.RemoveStreamHandler(proto) }, nil
}

// answer writes the answer for name at ref. An error means the stream must
// be reset (the file changed or vanished while it was sent, or the client
// went away).
func answer(w *bufio.Writer, store *modelstore.Store, name, ref string, maxBytes int64) error {
	refuse := func(status byte, msg string) error {
		_, err := w.Write(appendRefusal(nil, status, msg))
		return err
	}
	v, err := store.Resolve(name, ref)
	if err != nil {
		if errors.Is(err, modelstore.ErrNotFound) {
			return refuse(statusNotFound, err.Error())
		}
		return refuse(statusError, err.Error())
	}
	path, err := store.Path(name, v)
	if err != nil {
		if errors.Is(err, modelstore.ErrNotFound) {
			return refuse(statusNotFound, err.Error())
		}
		return refuse(statusError, err.Error())
	}
	f, err := os.Open(path)
	if err != nil {
		return refuse(statusError, fmt.Sprintf("%s version %d unreadable", name, v))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return refuse(statusError, fmt.Sprintf("%s version %d unreadable", name, v))
	}
	if st.Size() > maxBytes {
		return refuse(statusError, fmt.Sprintf("%s version %d is %d bytes, over this peer's limit of %d", name, v, st.Size(), maxBytes))
	}
	hh := sha256.New()
	if n, err := io.Copy(hh, f); err != nil || n != st.Size() {
		return refuse(statusError, fmt.Sprintf("%s version %d unreadable", name, v))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return refuse(statusError, fmt.Sprintf("%s version %d unreadable", name, v))
	}
	hdr := header{Version: v, Size: st.Size()}
	hh.Sum(hdr.Sum[:0])
	if _, err := w.Write(appendHeader(nil, hdr)); err != nil {
		return err
	}
	return writeChunks(w, f, hdr.Size, make([]byte, 4+min(MaxChunk, max(hdr.Size, 1))))
}

// Result describes a pulled model.
type Result struct {
	Name string
	// Version is the new local version.
	Version int
	// RemoteVersion is the version the peer sent.
	RemoteVersion int
	// SHA256 is the hex SHA-256 of the file's bytes.
	SHA256 string
	Bytes  int64
	Peer   peer.ID
	// Int8 says the published version is int8; QuantizedHere that it was
	// quantized on this node from the float file the peer sent (an edge
	// peer does so when no peer has the int8 form). Bytes and SHA256
	// then describe the file the peer sent.
	Int8, QuantizedHere bool
}

// Fetch asks peer p for name at ref ("" or "latest", a version number or a
// label) over proto, streams the file into a temporary file in the store's
// folder, checks its size and hash, checks that it loads, and publishes it
// as the next local version of name. On any error nothing is left in the
// store. ctx bounds the whole exchange.
func Fetch(ctx context.Context, h host.Host, proto protocol.ID, p peer.ID, name, ref string, store *modelstore.Store, opts ...Option) (Result, error) {
	res, tmp, err := Download(ctx, h, proto, p, name, ref, store.Root(), opts...)
	if err != nil {
		return res, err
	}
	defer os.Remove(tmp)
	fail := func(err error) (Result, error) {
		return res, fmt.Errorf("pull %s from %s: %w", refString(name, ref), p.ShortString(), err)
	}
	if _, err := artifact.Load(tmp); err != nil {
		return fail(fmt.Errorf("the file does not load: %w", err))
	}
	v, err := store.PublishFile(name, tmp)
	if err != nil {
		return fail(err)
	}
	res.Version = v
	return res, nil
}

// Download asks peer p for name at ref as Fetch does and streams the file
// into a new temporary file in dir (put it on the store's file system, so
// that publishing it is a rename), checking its size and hash but not
// that it loads, and publishing nothing: the caller owns the file at path
// and removes it. With WithAdmit, the announced size is offered to the
// check before any byte of the file is read. On an error no file is left.
func Download(ctx context.Context, h host.Host, proto protocol.ID, p peer.ID, name, ref, dir string, opts ...Option) (res Result, path string, err error) {
	res = Result{Name: name, Peer: p}
	c, err := newConfig(opts)
	if err != nil {
		return res, "", err
	}
	if err := modelstore.ValidName(name); err != nil {
		return res, "", err
	}
	if err := validRef(ref); err != nil {
		return res, "", fmt.Errorf("pull %s: %w", name, err)
	}
	fail := func(err error) (Result, string, error) {
		return res, "", fmt.Errorf("pull %s from %s: %w", refString(name, ref), p.ShortString(), err)
	}
	s, err := h.NewStream(ctx, p, proto)
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if _, err := s.Write(appendRequest(nil, name, ref)); err != nil {
		return fail(err)
	}
	if err := s.CloseWrite(); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(s, ioBuffer)
	hdr, err := readHeader(br, c.maxBytes)
	if err != nil {
		return fail(err)
	}
	res.RemoteVersion, res.Bytes, res.SHA256 = hdr.Version, hdr.Size, hex.EncodeToString(hdr.Sum[:])
	if c.admit != nil {
		if err := c.admit(hdr.Size); err != nil {
			_ = s.Reset() // the file is not wanted
			return fail(err)
		}
	}

	tmp, err := os.CreateTemp(dir, ".pull-*")
	if err != nil {
		return fail(err)
	}
	keep := false
	defer func() {
		if !keep {
			tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	hh := sha256.New()
	if _, err := readChunks(io.MultiWriter(tmp, hh), br, hdr.Size); err != nil {
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
		return fail(err)
	}
	if got := hh.Sum(nil); string(got) != string(hdr.Sum[:]) {
		return fail(fmt.Errorf("bytes hash to %x, the peer announced %x", got, hdr.Sum))
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	keep = true
	return res, tmp.Name(), nil
}

func refString(name, ref string) string {
	if ref == "" {
		return name
	}
	return name + "@" + ref
}

// FetchAny tries holders in order (skipping h itself) until one serves
// name at ref, and returns what Fetch returns for it. The error joins the
// failures of every holder tried.
func FetchAny(ctx context.Context, h host.Host, proto protocol.ID, holders []peer.ID, name, ref string, store *modelstore.Store, opts ...Option) (Result, error) {
	var errs []error
	for _, p := range holders {
		if p == h.ID() {
			continue
		}
		res, err := Fetch(ctx, h, proto, p, name, ref, store, opts...)
		if err == nil {
			return res, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return Result{Name: name}, fmt.Errorf("pull %s: %w", refString(name, ref), ErrNoHolder)
	}
	return Result{Name: name}, errors.Join(errs...)
}

// ErrNoHolder: no peer (other than this one) is known to hold the model.
var ErrNoHolder = errors.New("no peer known to hold it")
