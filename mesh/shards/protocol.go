package shards

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ProtocolName is the stream protocol, under the mesh's prefix (see
// mesh.Node.Protocol), that serves shards.
const ProtocolName = "shard/1.0.0"

// Wire format. Request: the 4-byte magic "SHQ1" and a 32-byte shard id.
// Response: one status byte, then for statusOK an 8-byte big-endian length
// and that many bytes. Both sides enforce MaxShardBytes.
const (
	requestMagic   = "SHQ1"
	statusOK       = 0
	statusNotFound = 1
)

// ErrNotFound is returned by Fetch when the peer does not hold the shard.
var ErrNotFound = errors.New("peer does not hold the shard")

// serveTimeout bounds one request on the serving side, so a stalled client
// cannot pin a stream.
const serveTimeout = 2 * time.Minute

// Serve registers proto (the mesh's full id of ProtocolName) on h, answering
// from store. It returns a function that unregisters it.
func Serve(h host.Host, proto protocol.ID, store *Store) (stop func()) {
	h.SetStreamHandler(proto, Handler(store))
	return func() { h.RemoveStreamHandler(proto) }
}

// Handler answers one shard request stream from store (what Serve
// registers; a test may wrap it to delay or count requests).
func Handler(store *Store) network.StreamHandler {
	return func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(serveTimeout))
		id, err := readRequest(s)
		if err != nil {
			_ = s.Reset()
			return
		}
		w := bufio.NewWriterSize(s, 64<<10)
		data, ok := store.Get(id)
		if !ok {
			_ = w.WriteByte(statusNotFound)
			_ = w.Flush()
			return
		}
		var hdr [9]byte
		hdr[0] = statusOK
		binary.BigEndian.PutUint64(hdr[1:], uint64(len(data)))
		if _, err := w.Write(hdr[:]); err != nil {
			return
		}
		if _, err := w.Write(data); err != nil {
			return
		}
		_ = w.Flush()
	}
}

func readRequest(r io.Reader) (ID, error) {
	var buf [len(requestMagic) + len(ID{})]byte
	var id ID
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return id, fmt.Errorf("shard request: %w", err)
	}
	if string(buf[:len(requestMagic)]) != requestMagic {
		return id, errors.New("shard request: bad magic")
	}
	copy(id[:], buf[len(requestMagic):])
	return id, nil
}

// Fetch asks peer p for shard id and returns its bytes after checking their
// hash. ctx bounds the whole exchange.
func Fetch(ctx context.Context, h host.Host, proto protocol.ID, p peer.ID, id ID) ([]byte, error) {
	s, err := h.NewStream(ctx, p, proto)
	if err != nil {
		return nil, fmt.Errorf("fetch shard %s from %s: %w", id.Short(), p.ShortString(), err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	req := append([]byte(requestMagic), id[:]...)
	if _, err := s.Write(req); err != nil {
		return nil, fmt.Errorf("fetch shard %s: %w", id.Short(), err)
	}
	if err := s.CloseWrite(); err != nil {
		return nil, fmt.Errorf("fetch shard %s: %w", id.Short(), err)
	}
	data, err := readResponse(bufio.NewReaderSize(s, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("fetch shard %s from %s: %w", id.Short(), p.ShortString(), err)
	}
	if got := Sum(data); got != id {
		return nil, fmt.Errorf("fetch shard %s from %s: bytes hash to %s", id.Short(), p.ShortString(), got.Short())
	}
	return data, nil
}

func readResponse(r io.Reader) ([]byte, error) {
	var status [1]byte
	if _, err := io.ReadFull(r, status[:]); err != nil {
		return nil, fmt.Errorf("reading status: %w", err)
	}
	switch status[0] {
	case statusOK:
	case statusNotFound:
		return nil, ErrNotFound
	default:
		return nil, fmt.Errorf("unknown status %d", status[0])
	}
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("reading length: %w", err)
	}
	size := binary.BigEndian.Uint64(n[:])
	if size > MaxShardBytes {
		return nil, fmt.Errorf("shard of %d bytes exceeds the %d-byte limit", size, MaxShardBytes)
	}
	// Grow with what arrives rather than allocating the declared size up
	// front: a peer that declares 256 MiB and sends nothing costs nothing.
	data, err := io.ReadAll(io.LimitReader(r, int64(size)))
	if err != nil {
		return nil, fmt.Errorf("shard truncated: %w", err)
	}
	if uint64(len(data)) != size {
		return nil, fmt.Errorf("shard truncated: %d of %d bytes", len(data), size)
	}
	return data, nil
}

// minHolderShare is the least time FetchAny gives one holder of a shard
// when ctx has a deadline.
var minHolderShare = 15 * time.Second // a var so that tests may shorten it

// FetchAny tries holders in order until one returns the shard, and returns
// the bytes with the peer that served them. Under a deadline each holder
// gets an even share of what is left (at least minHolderShare), so one
// that never answers — across a partition, hung — does not use up the
// whole budget before the others are asked.
func FetchAny(ctx context.Context, h host.Host, proto protocol.ID, holders []peer.ID, id ID) ([]byte, peer.ID, error) {
	var errs []error
	for i, p := range holders {
		if p == h.ID() {
			continue
		}
		hctx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok {
			share := time.Until(dl) / time.Duration(len(holders)-i)
			hctx, cancel = context.WithTimeout(ctx, max(share, minHolderShare))
		}
		data, err := Fetch(hctx, h, proto, p, id)
		cancel()
		if err == nil {
			return data, p, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, "", fmt.Errorf("shard %s: no holder to fetch from", id.Short())
	}
	return nil, "", errors.Join(errs...)
}
