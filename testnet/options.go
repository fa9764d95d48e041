package testnet

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/pnet"

	"github.com/shoalmesh/shoal/mesh"
	"github.com/shoalmesh/shoal/mesh/job"
)

// Option configures a Net.
type Option func(*config) error

type config struct {
	heartbeat, timeout time.Duration
	dht                bool
	logger             *slog.Logger
	dir                string
	psk                pnet.PSK
	nodeConfig         func(i int, c *mesh.Config)
	jobConfig          func(i int, c *job.Config)
}

// WithHeartbeat sets the presence interval and peer timeout of every node.
func WithHeartbeat(every, timeout time.Duration) Option {
	return func(c *config) error {
		if every <= 0 || timeout < 2*every {
			return fmt.Errorf("testnet: heartbeat %v, timeout %v: want timeout >= 2 heartbeats", every, timeout)
		}
		c.heartbeat, c.timeout = every, timeout
		return nil
	}
}

// WithDHT turns the private DHT on in every node (off by default: it costs
// memory and the mesh does not need it on one machine).
func WithDHT(on bool) Option { return func(c *config) error { c.dht = on; return nil } }

// WithLogger gives every node a logger (with a "node" attribute).
func WithLogger(l *slog.Logger) Option { return func(c *config) error { c.logger = l; return nil } }

// WithDir keeps the nodes' data dirs under dir (node-0, node-1, …) and
// leaves them there on Close. Default: a temporary dir removed by Close.
func WithDir(dir string) Option { return func(c *config) error { c.dir = dir; return nil } }

// WithKey uses psk as the mesh key instead of a fresh random one.
func WithKey(psk pnet.PSK) Option {
	return func(c *config) error {
		if len(psk) != 32 {
			return fmt.Errorf("testnet: key is %d bytes, want 32", len(psk))
		}
		c.psk = psk
		return nil
	}
}

// WithNodeConfig lets the caller adjust node i's config (PresenceExtra,
// Role, …) before each start, restarts included.
func WithNodeConfig(f func(i int, c *mesh.Config)) Option {
	return func(c *config) error { c.nodeConfig = f; return nil }
}

// WithJobConfig lets the caller adjust node i's job manager config
// (PrivateData, Averaging, timings) before each start, restarts included.
func WithJobConfig(f func(i int, c *job.Config)) Option {
	return func(c *config) error { c.jobConfig = f; return nil }
}
