package pull

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/shoalmesh/shoal/engine/artifact"
	"github.com/shoalmesh/shoal/engine/modelstore"
	"github.com/shoalmesh/shoal/engine/nn"
	"github.com/shoalmesh/shoal/mesh"
)

const testProto = protocol.ID("/shoal/test/" + ProtocolName)

// modelBytes is a small image model (4 inputs, 3 classes) as a file.
func modelBytes(t testing.TB, seed uint64) []byte {
	t.Helper()
	m, err := nn.Build(nn.Spec{Input: []int{4}, Layers: []nn.LayerSpec{{Type: "dense", Units: 3}}}, seed)
	if err != nil {
		t.Fatal(err)
	}
	a, err := artifact.New(m, artifact.KindImage, []string{"a", "b", "c"}, nil, artifact.Provenance{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// newPair returns two connected hosts sharing a private-network key.
func newPair(t *testing.T) (server, client host.Host) {
	t.Helper()
	psk, err := mesh.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	mk := func() host.Host {
		h, err := libp2p.New(libp2p.PrivateNetwork(psk), libp2p.NoListenAddrs,
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	server, client = mk(), mk()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Connect(ctx, peer.AddrInfo{ID: server.ID(), Addrs: server.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return server, client
}

func openStore(t *testing.T) *modelstore.Store {
	t.Helper()
	s, err := modelstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// assertEmpty checks that store holds no model and no leftover file.
func assertEmpty(t *testing.T, s *modelstore.Store) {
	t.Helper()
	ents, err := os.ReadDir(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("store holds %s after a failed pull", e.Name())
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestFetch(t *testing.T) {
	server, client := newPair(t)
	src, dst := openStore(t), openStore(t)
	v1, v2 := modelBytes(t, 1), modelBytes(t, 2)
	for _, b := range [][]byte{v1, v2} {
		if _, err := src.Publish("m", b); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.SetLabel("m", "stable", 1); err != nil {
		t.Fatal(err)
	}
	stop, err := Serve(server, testProto, src)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx := testCtx(t)

	for i, tc := range []struct {
		ref    string
		remote int
		want   []byte
	}{
		{"", 2, v2}, {"stable", 1, v1}, {"1", 1, v1}, {"latest", 2, v2},
	} {
		res, err := Fetch(ctx, client, testProto, server.ID(), "m", tc.ref, dst)
		if err != nil {
			t.Fatalf("ref %q: %v", tc.ref, err)
		}
		sum := sha256.Sum256(tc.want)
		if res.Version != i+1 || res.RemoteVersion != tc.remote || res.Bytes != int64(len(tc.want)) ||
			res.SHA256 != hex.EncodeToString(sum[:]) || res.Peer != server.ID() || res.Name != "m" {
			t.Errorf("ref %q: %+v", tc.ref, res)
		}
		p, err := dst.Path("m", res.Version)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); string(got) != string(tc.want) {
			t.Errorf("ref %q: stored bytes differ", tc.ref)
		}
	}
	ents, _ := os.ReadDir(dst.Root())
	if len(ents) != 1 {
		t.Errorf("store root holds %d entries, want only the model folder", len(ents))
	}

	empty := openStore(t)
	for _, tc := range []struct {
		name, ref string
		opts      []Option
		want      error
	}{
		{"nope", "", nil, ErrNotFound},
		{"m", "9", nil, ErrNotFound},
		{"m", "canary", nil, ErrNotFound},
		{"m", "", []Option{WithMaxBytes(100)}, ErrTooLarge},
	} {
		_, err := Fetch(ctx, client, testProto, server.ID(), tc.name, tc.ref, empty, tc.opts...)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s@%s: %v, want %v", tc.name, tc.ref, err, tc.want)
		}
	}
	if _, err := Fetch(ctx, client, testProto, server.ID(), "m", "a/b", empty); err == nil {
		t.Error("bad ref accepted")
	}
	assertEmpty(t, empty)

	// FetchAny skips a holder that fails and itself.
	stranger := newHost(t)
	res, err := FetchAny(ctx, client, testProto, []peer.ID{client.ID(), stranger.ID(), server.ID()}, "m", "stable", empty)
	if err != nil || res.Peer != server.ID() || res.Version != 1 {
		t.Fatalf("FetchAny: %+v, %v", res, err)
	}
	if _, err := FetchAny(ctx, client, testProto, []peer.ID{client.ID()}, "m", "", empty); !errors.Is(err, ErrNoHolder) {
		t.Errorf("FetchAny without holders: %v", err)
	}
}

// TestLyingServer: a peer that announces a wrong hash, sends less than it
// announced, or sends a file that does not load leaves nothing behind.
func TestLyingServer(t *testing.T) {
	server, client := newPair(t)
	good := modelBytes(t, 3)
	goodSum := sha256.Sum256(good)
	garbage := []byte(strings.Repeat("not a model ", 100))
	garbageSum := sha256.Sum256(garbage)
	for _, tc := range []struct {
		name string
		send func(w *bufio.Writer)
		want string
	}{
		{"wrong hash", func(w *bufio.Writer) {
			_, _ = w.Write(appendHeader(nil, header{Version: 1, Size: int64(len(good))}))
			_ = writeChunks(w, strings.NewReader(string(good)), int64(len(good)), make([]byte, 4096))
		}, "hash"},
		{"truncated", func(w *bufio.Writer) {
			_, _ = w.Write(appendHeader(nil, header{Version: 1, Sum: goodSum, Size: int64(len(good))}))
			_, _ = w.Write(chunk(good[:len(good)/2]))
		}, "chunk length"},
		{"does not load", func(w *bufio.Writer) {
			_, _ = w.Write(appendHeader(nil, header{Version: 1, Sum: garbageSum, Size: int64(len(garbage))}))
			_ = writeChunks(w, strings.NewReader(string(garbage)), int64(len(garbage)), make([]byte, 4096))
		}, "does not load"},
		{"garbage status", func(w *bufio.Writer) { _, _ = w.WriteString("\x09junk") }, "unknown answer status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server.SetStreamHandler(testProto, func(s network.Stream) {
				defer s.Close()
				if _, _, err := readRequest(s); err != nil {
					_ = s.Reset()
					return
				}
				w := bufio.NewWriter(s)
				tc.send(w)
				_ = w.Flush()
			})
			dst := openStore(t)
			_, err := Fetch(testCtx(t), client, testProto, server.ID(), "m", "", dst)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one with %q", err, tc.want)
			}
			assertEmpty(t, dst)
		})
	}
}

func TestHolders(t *testing.T) {
	a, b, c := newHost(t).ID(), newHost(t).ID(), newHost(t).ID()
	got := Holders([]mesh.PeerInfo{
		{ID: a.String(), Models: []string{"m"}, Alive: true},
		{ID: b.String(), Models: []string{"m"}, Alive: true, RTT: 5 * time.Millisecond},
		{ID: c.String(), Models: []string{"m"}, Alive: true, RTT: time.Millisecond},
		{ID: "garbage", Models: []string{"m"}, Alive: true},
		{ID: a.String(), Models: []string{"other"}, Alive: true},
		{ID: b.String(), Models: []string{"m"}, Alive: false},
	}, "m")
	if len(got) != 3 || got[0] != c || got[1] != b || got[2] != a {
		t.Errorf("Holders = %v, want %v %v %v", got, c, b, a)
	}
}
