package avg

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Finalize makes every live member hold the same vector: each adopts the
// final vector of the lowest live member id (skipping banned and unreachable
// ones), fetched over the params protocol and checked against its SHA-256; the lowest
// itself freezes its own. A member that has not finalized yet answers "not
// ready" and is asked again until ctx ends. Afterwards this averager is
// frozen: it serves the final vector and refuses exchanges. Returns the
// vector's SHA-256 (hex, see VectorHash).
//
// Views of membership must agree for the hashes to agree; with RobustClip a
// final vector farther than Config.AdoptTolerance (relative) from this
// peer's own is refused, so an honest peer never adopts a liar's vector.
func (a *Averager) Finalize(ctx context.Context, members []peer.ID) (string, error) {
	if a.frozen() {
		return a.finalHash(), nil
	}
	order := slices.Clone(members)
	if !slices.Contains(order, a.self) {
		order = append(order, a.self)
	}
	slices.Sort(order)
	order = slices.Compact(order)
	var errs []error
	for _, p := range order {
		if p == a.self {
			return a.freezeOwn(ctx)
		}
		if a.Banned(p) {
			continue
		}
		err := a.adoptFrom(ctx, p)
		if err == nil {
			return a.finalHash(), nil
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("avg: finalize: %w (%v)", ctx.Err(), errors.Join(append(errs, err)...))
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...) // unreachable: self is in order
}

func (a *Averager) finalHash() string {
	a.smu.Lock()
	defer a.smu.Unlock()
	return fmt.Sprintf("%x", a.finalSum)
}

// freezeOwn makes the current params final (waiting for a running exchange).
func (a *Averager) freezeOwn(ctx context.Context) (string, error) {
	if err := a.acquire(ctx); err != nil {
		return "", err
	}
	defer a.release()
	a.mu.Lock()
	v := slices.Clone(a.params)
	a.mu.Unlock()
	if err := checkFinite(v); err != nil {
		return "", fmt.Errorf("avg: cannot finalize: %w", err)
	}
	a.setFinal(v)
	return a.finalHash(), nil
}

// AdoptFinal makes this peer hold the final vector that the peers in
// sources already hold (peers that finalized before it, e.g. while it was
// restarting): it fetches from the lowest of them that answers, checks the
// SHA-256 and freezes, trying again until ctx ends. Unlike Finalize it never
// freezes its own vector, which would split the mesh when this peer's id
// happens to be the lowest.
func (a *Averager) AdoptFinal(ctx context.Context, sources []peer.ID) (string, error) {
	if a.frozen() {
		return a.finalHash(), nil
	}
	order := slices.DeleteFunc(slices.Clone(sources), func(p peer.ID) bool { return p == a.self })
	slices.Sort(order)
	order = slices.Compact(order)
	if len(order) == 0 {
		return "", errors.New("avg: adopt final: no source peer")
	}
	retry := time.NewTicker(adoptRetry)
	defer retry.Stop()
	for {
		var errs []error
		for _, p := range order {
			if a.Banned(p) {
				continue
			}
			err := a.adoptFrom(ctx, p)
			if err == nil {
				return a.finalHash(), nil
			}
			errs = append(errs, err)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("avg: adopt final: %w (%v)", ctx.Err(), errors.Join(errs...))
		case <-retry.C:
		}
	}
}

// adoptFrom fetches p's final vector and adopts it; a vector refused as too
// far from ours (RobustClip) costs p reputation.
func (a *Averager) adoptFrom(ctx context.Context, p peer.ID) error {
	v, err := a.fetchFinal(ctx, p)
	if err != nil {
		return err
	}
	if err = a.adopt(ctx, v); errors.Is(err, ErrRejected) {
		a.strike(p)
	}
	return err
}

func (a *Averager) adopt(ctx context.Context, v []float32) error {
	if err := a.acquire(ctx); err != nil {
		return err
	}
	defer a.release()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cfg.Robust == RobustClip {
		var d2, n2 float64
		for i, x := range a.params {
			d := float64(v[i]) - float64(x)
			d2 += d * d
			n2 += float64(x) * float64(x)
		}
		if rel := math.Sqrt(d2 / n2); !(rel <= a.cfg.AdoptTolerance) {
			return fmt.Errorf("%w: final vector is %.3g away (relative), tolerance %.3g", ErrRejected, rel, a.cfg.AdoptTolerance)
		}
	}
	copy(a.params, v)
	a.version++
	a.setFinal(v)
	return nil
}

func (a *Averager) setFinal(v []float32) {
	a.smu.Lock()
	defer a.smu.Unlock()
	a.final = v
	a.finalSum = sha256.Sum256(f32Bytes(v))
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	return encodeVector(b, EncF32, len(v), v, make([]float32, len(v)))
}

// serveFinal answers a fetch.
func (a *Averager) serveFinal(cs *countingStream) {
	a.smu.Lock()
	v, sum := a.final, a.finalSum
	a.smu.Unlock()
	if v == nil {
		refuse(cs, stNotFinal, "")
		return
	}
	send := v
	if a.cfg.Tamper != nil {
		send = slices.Clone(v)
		a.cfg.Tamper(send)
	}
	payload := f32Bytes(send)
	if a.cfg.Tamper != nil {
		sum = sha256.Sum256(payload)
	}
	h := header{Kind: kindFinal, Enc: EncF32, Length: uint32(len(v)), Chunk: DefaultChunk, Sum: sum, Job: a.job}
	if writeHeader(cs, &h) == nil {
		_, _ = cs.Write(payload)
	}
}

// fetchFinal asks p for its final vector until it has one or ctx ends.
func (a *Averager) fetchFinal(ctx context.Context, p peer.ID) ([]float32, error) {
	wait := fetchWaitMin
	for {
		v, err := a.fetchOnce(ctx, p)
		var re *refusedError
		if !errors.As(err, &re) || re.st != stNotFinal {
			return v, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("avg: %s never finalized: %w", p, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, fetchWaitMax)
	}
}

func (a *Averager) fetchOnce(ctx context.Context, p peer.ID) ([]float32, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	cs, done, err := a.open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer done()
	defer a.addBytes(cs)
	if err := writeHeader(cs, &header{Kind: kindFetch, Job: a.job}); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, p, err)
	}
	h, err := readHeader(cs)
	if err != nil {
		return nil, fmt.Errorf("avg: fetching final vector from %s: %w", p, err)
	}
	if h.Kind == kindRefuse {
		return nil, &refusedError{st: h.Status, msg: h.Msg}
	}
	if h.Kind != kindFinal || h.Enc != EncF32 || int(h.Length) != len(a.params) {
		a.strike(p)
		return nil, fmt.Errorf("%w: %s answered fetch with %s %s of %d elements, want final f32 of %d",
			ErrRejected, p, h.Kind, h.Enc, h.Length, len(a.params))
	}
	v := make([]float32, h.Length)
	if _, err = readPayload(cs, &h, v, nil); err == nil {
		err = checkFinite(v)
	}
	if err != nil {
		if !isIOError(err) {
			a.strike(p)
			return nil, fmt.Errorf("%w: final vector from %s: %v", ErrRejected, p, err)
		}
		return nil, err
	}
	return v, nil
}

// VectorHash is the SHA-256 (hex) of v as float32 little-endian bytes: the
// identity of a final model vector.
func VectorHash(v []float32) string {
	h := sha256.New()
	var b [4096]byte
	for lo := 0; lo < len(v); lo += len(b) / 4 {
		hi := min(lo+len(b)/4, len(v))
		for i := lo; i < hi; i++ {
			binary.LittleEndian.PutUint32(b[4*(i-lo):], math.Float32bits(v[i]))
		}
		h.Write(b[:4*(hi-lo)])
	}
	return hex.EncodeToString(h.Sum(nil))
}
