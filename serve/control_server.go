package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

// ControlConfig configures ListenAndServeControl. The zero value of every
// field but DataDir is usable.
type ControlConfig struct {
	// Addr is host:port to listen on; default controlapi.DefaultAddr
	// (127.0.0.1:7070). Port 0 picks a free port (see Ready).
	Addr string
	// DataDir holds the token file <DataDir>/api.token (mode 0600),
	// created with a fresh random token if absent. Required.
	DataDir string
	// AllowNonLoopback permits a non-loopback Addr. The API is plain HTTP,
	// so the token then crosses the network in clear text.
	AllowNonLoopback bool
	// Logger receives start/stop and warning lines; default: discard.
	Logger *slog.Logger
	// Routes adds handlers to the control API (pattern -> handler, in
	// ServeMux syntax), e.g. {"POST /api/v1/jobs": ...}. They sit behind
	// the same token check as the built-in routes.
	Routes map[string]http.Handler
	// Ready, if set, is called once the listener is bound, with its actual
	// address (useful with port 0).
	Ready func(addr net.Addr)
	// Heartbeat is the event-stream heartbeat period (default 15 s).
	Heartbeat time.Duration
}

// ListenAndServeControl serves the control API for node until ctx is done,
// then shuts down gracefully (event streams end at once; other requests get
// a few seconds). It returns nil after a clean shutdown, or the error that
// kept it from starting: a non-loopback Addr without AllowNonLoopback, a
// port in use, an unreadable token file.
func ListenAndServeControl(ctx context.Context, node Node, cfg ControlConfig) error {
	srv, err := StartControl(ctx, node, cfg)
	if err != nil {
		return err
	}
	select {
	case err := <-srv.Failed():
		srv.Close()
		return err
	case <-ctx.Done():
	}
	return srv.Close()
}

// ControlServer is a running control API listener (see StartControl).
type ControlServer struct {
	srv    *http.Server
	h      *ControlHandler
	addr   net.Addr
	token  string
	log    *slog.Logger
	cancel context.CancelFunc // ends every request context (event streams)
	served chan struct{}      // closed when Serve has returned
	failed chan error         // gets Serve's error when it stops on its own

	closeOnce sync.Once
	closeErr  error
}

// StartControl binds the control API's listener and serves it on a
// goroutine of its own until Close (or ctx's end, which ends the requests
// but leaves the listener to Close). The checks and errors are those of
// ListenAndServeControl.
func StartControl(ctx context.Context, node Node, cfg ControlConfig) (*ControlServer, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr := cfg.Addr
	if addr == "" {
		addr = controlapi.DefaultAddr
	}
	if err := CheckLoopback(addr, cfg.AllowNonLoopback); err != nil {
		return nil, err
	}
	if cfg.DataDir == "" {
		return nil, errors.New("control API: no data dir for the token file")
	}
	token, err := LoadOrCreateToken(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("control API: %w", err)
	}

	h := NewControlHandler(node, token, WithLogger(log), WithHeartbeat(cfg.Heartbeat))
	if err := addRoutes(h, cfg.Routes); err != nil {
		return nil, fmt.Errorf("control API: %w", err)
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("control API: listen on %s: %w", addr, err)
	}
	// "localhost" and similar names are resolved by Listen; check what was
	// actually bound as well.
	if err := checkBound(ln.Addr(), cfg.AllowNonLoopback); err != nil {
		ln.Close()
		return nil, err
	}
	if cfg.AllowNonLoopback {
		log.Warn("control API listens beyond loopback; its token crosses the network unencrypted", "addr", ln.Addr().String())
	}

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	s := &ControlServer{h: h, addr: ln.Addr(), token: token, log: log, cancel: func() { stop(); cancel() },
		served: make(chan struct{}), failed: make(chan error, 1)}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: controlReadHeaderTimeout,
		IdleTimeout:       controlIdleTimeout,
		MaxHeaderBytes:    controlMaxHeaderBytes,
		// Request contexts derive from rctx, so Close (or ctx's end) ends
		// every event stream and Shutdown need not wait for them.
		BaseContext: func(net.Listener) context.Context { return rctx },
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr())
	}
	log.Info("control API listening", "addr", ln.Addr().String(), "token_file", controlapi.TokenPath(cfg.DataDir))
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.failed <- fmt.Errorf("control API: %w", err)
		}
	}()
	return s, nil
}

// Addr is the address the listener is bound to (the real port when the
// configured one was 0).
func (s *ControlServer) Addr() net.Addr { return s.addr }

// Token is the bearer token clients must send (also in <DataDir>/api.token).
func (s *ControlServer) Token() string { return s.token }

// Failed delivers the error that stopped the server on its own (the
// listener broke); it never fires after Close.
func (s *ControlServer) Failed() <-chan error { return s.failed }

// Close stops taking connections, ends the event streams at once and gives
// other requests up to shutdownGrace. It is safe to call more than once.
func (s *ControlServer) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.h.Close()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		err := s.srv.Shutdown(sctx)
		<-s.served
		if err != nil {
			s.srv.Close()
			s.closeErr = fmt.Errorf("control API: shutdown: %w", err)
			return
		}
		s.log.Info("control API stopped")
	})
	return s.closeErr
}

// CheckLoopback returns an error for a listen address that is not on
// loopback, unless allow is set. A host must be a loopback IP or
// "localhost"; an empty host (":7070") means every interface.
func CheckLoopback(addr string, allow bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("control API address %q: %w", addr, err)
	}
	if allow {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	where := host
	if host == "" {
		where = "every interface"
	}
	return fmt.Errorf("control API address %q is not loopback (%s): anyone who can reach it could try to drive this node; use a loopback address such as 127.0.0.1:PORT (from another machine, forward the port over SSH)", addr, where)
}

func checkBound(a net.Addr, allow bool) error {
	if allow {
		return nil
	}
	if ta, ok := a.(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
		return fmt.Errorf("control API bound %s, which is not loopback", a)
	}
	return nil
}

// LoadOrCreateToken returns the API token in <dataDir>/api.token, creating
// the data dir (0700) and a token file (0600, 32 random bytes in hex) if
// there is none. A token file readable by group or others is tightened to
// 0600, since any local user who reads it can drive the node.
func LoadOrCreateToken(dataDir string) (string, error) {
	path := controlapi.TokenPath(dataDir)
	if fi, err := os.Stat(path); err == nil {
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("token file %s is readable by others and cannot be fixed: %w", path, err)
			}
		}
		return controlapi.ReadTokenFile(path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("token file: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	token := hex.EncodeToString(raw[:])
	// Write a temporary file and link it into place: readers never see a
	// half-written token, and if two processes race, the first link wins and
	// both use its token.
	tmp, err := os.CreateTemp(dataDir, ".api.token-*")
	if err != nil {
		return "", fmt.Errorf("create token file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("create token file: %w", err)
	}
	if _, err := tmp.WriteString(token + "\n"); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write token file: %w", err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return controlapi.ReadTokenFile(path)
		}
		return "", fmt.Errorf("create token file: %w", err)
	}
	return token, nil
}

// addRoutes registers extra routes, turning ServeMux's panic on a bad or
// conflicting pattern into an error.
func addRoutes(h *ControlHandler, routes map[string]http.Handler) (err error) {
	var pattern string
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("route %q: %v", pattern, r)
		}
	}()
	for pattern = range routes {
		h.Handle(pattern, routes[pattern])
	}
	return nil
}
