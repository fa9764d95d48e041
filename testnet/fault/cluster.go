package fault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/shoalmesh/shoal/serve/controlapi"
	"github.com/shoalmesh/shoal/testnet/fault/netns"
	"github.com/shoalmesh/shoal/testnet/fault/proxy"
)

// Options configure a Cluster.
type Options struct {
	// N is the number of peers.
	N int
	// Bin is the shoal binary.
	Bin string
	// Dir holds the peers' data dirs and the key (a test's TempDir).
	Dir string
	// Key is the mesh key file; "" writes a fresh one into Dir.
	Key string
	// Proxy puts a fault proxy in front of every peer's listener (needed
	// for SetFaults).
	Proxy bool
	// Loopback runs on 127.0.0.1 even where namespaces work.
	Loopback bool
	// Args adds flags to peer i's `shoal up`.
	Args func(i int) []string
	// Logf, when set, gets a line for every fault injected.
	Logf func(format string, args ...any)
}

// Mode says where a cluster's peers run.
type Mode string

const (
	// ModeNetns: each peer in its own network namespace.
	ModeNetns Mode = "netns"
	// ModeLoopback: every peer on 127.0.0.1 of the host.
	ModeLoopback Mode = "loopback"
)

// Cluster is a set of `shoal up` processes.
type Cluster struct {
	opts Options
	mode Mode
	why  string
	net  *netns.Net

	mu    sync.Mutex
	peers []*Peer
}

// Peer is one `shoal up` process of a cluster (or, after Kill, the place
// it ran).
type Peer struct {
	Index   int
	Name    string
	DataDir string
	Key     string
	// IP and Port are what the other peers dial: the proxy where there is
	// one, the node's listener otherwise.
	IP   string
	Port int
	// ID is the peer id (set once it started the first time).
	ID string
	// API is the control API address reachable from this process.
	API string

	c        *Cluster
	node     *netns.Node // nil on loopback
	listen   string      // the node's own listen multiaddr
	apiInner string      // the API address inside the peer's namespace
	proxy    *proxy.Proxy
	apiFwd   *proxy.Proxy

	mu     sync.Mutex
	cmd    *exec.Cmd
	log    *logBuffer
	exited chan struct{}
	err    error
	boot   []string
}

// Start starts a cluster of opts.N peers: peer 0 first, then the others
// bootstrapping from it. It returns when every peer's control API answers;
// use WaitConverged to wait for them to see each other. On error what was
// started is stopped.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.N < 1 || opts.Bin == "" || opts.Dir == "" {
		return nil, errors.New("fault: Options need N ≥ 1, Bin and Dir")
	}
	c := &Cluster{opts: opts, mode: ModeLoopback}
	if opts.Key == "" {
		c.opts.Key = filepath.Join(opts.Dir, "swarm.key")
		if err := NewKeyFile(opts.Bin, c.opts.Key); err != nil {
			return nil, err
		}
	}
	if opts.Loopback {
		c.why = "loopback asked for"
	} else if err := netns.Available(); err != nil {
		c.why = err.Error()
	} else {
		if gone, err := netns.Sweep(); err == nil && len(gone) > 0 {
			c.logf("removed %d namespaces left by runs that died", len(gone))
		}
		n, err := netns.NewNet(opts.N)
		if err != nil {
			return nil, err
		}
		c.net, c.mode = n, ModeNetns
	}
	for i := range opts.N {
		var boot []string
		if i > 0 {
			boot = []string{c.peers[0].Addr()}
		}
		if _, err := c.add(ctx, c.opts.Key, boot); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// NewKeyFile writes a fresh mesh key to path with `shoal key new`.
func NewKeyFile(bin, path string) error {
	out, err := exec.Command(bin, "key", "new", "-o", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fault: shoal key new: %v: %s", err, out)
	}
	return nil
}

// Mode says where the peers run; Why says why not in namespaces.
func (c *Cluster) Mode() (Mode, string) { return c.mode, c.why }

// Net is the namespace net (nil on loopback).
func (c *Cluster) Net() *netns.Net { return c.net }

func (c *Cluster) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

// Peers returns every peer ever started, by index.
func (c *Cluster) Peers() []*Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Peer(nil), c.peers...)
}

// Peer returns peer i.
func (c *Cluster) Peer(i int) *Peer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peers[i]
}

// AddPeer starts one more peer with the given key file ("" for the
// cluster's), bootstrapping from peer 0: an intruder with another key, or
// a late joiner.
func (c *Cluster) AddPeer(ctx context.Context, key string) (*Peer, error) {
	if key == "" {
		key = c.opts.Key
	}
	return c.add(ctx, key, []string{c.Peer(0).Addr()})
}

func (c *Cluster) add(ctx context.Context, key string, boot []string) (*Peer, error) {
	c.mu.Lock()
	i := len(c.peers)
	c.mu.Unlock()
	p := &Peer{Index: i, Name: "p" + strconv.Itoa(i), DataDir: filepath.Join(c.opts.Dir, "p"+strconv.Itoa(i)),
		Key: key, c: c, boot: boot}
	if err := c.place(p); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.peers = append(c.peers, p)
	c.mu.Unlock()
	if err := p.start(ctx); err != nil {
		return p, err
	}
	return p, nil
}

// place gives p its addresses, its proxy and its API forwarder.
func (c *Cluster) place(p *Peer) error {
	fwd := func(inner string, dial func(context.Context, string, string) (net.Conn, error)) (*proxy.Proxy, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		return proxy.New(ln, func(ctx context.Context) (net.Conn, error) { return dial(ctx, "tcp", inner) }), nil
	}
	if c.mode == ModeNetns {
		var err error
		if p.Index < len(c.net.Nodes()) {
			p.node = c.net.Nodes()[p.Index]
		} else if p.node, err = c.net.AddNode(); err != nil {
			return err
		}
		p.IP, p.Port, p.apiInner = p.node.IP, 4001, "127.0.0.1:7070"
		p.listen = fmt.Sprintf("/ip4/%s/tcp/4001", p.IP)
		if c.opts.Proxy {
			p.listen = "/ip4/127.0.0.1/tcp/4101"
			ln, err := p.node.Listen("tcp", net.JoinHostPort(p.IP, "4001"))
			if err != nil {
				return err
			}
			nd := p.node
			p.proxy = proxy.New(ln, func(ctx context.Context) (net.Conn, error) { return nd.Dial(ctx, "tcp", "127.0.0.1:4101") })
		}
		p.apiFwd, err = fwd(p.apiInner, p.node.Dial)
		if err != nil {
			return err
		}
		p.API = p.apiFwd.Addr().String()
		return nil
	}
	// Loopback: ports picked free now and kept for restarts.
	var d net.Dialer
	p.IP = "127.0.0.1"
	lport, err := freePort()
	if err != nil {
		return err
	}
	p.listen, p.Port = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", lport), lport
	if c.opts.Proxy {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		up := fmt.Sprintf("127.0.0.1:%d", lport)
		p.proxy = proxy.New(ln, func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", up) })
		p.Port = ln.Addr().(*net.TCPAddr).Port
	}
	aport, err := freePort()
	if err != nil {
		return err
	}
	p.apiInner = fmt.Sprintf("127.0.0.1:%d", aport)
	p.API = p.apiInner
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Addr is the multiaddr other peers bootstrap from.
func (p *Peer) Addr() string {
	return fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", p.IP, p.Port, p.ID)
}

// Proxy is the fault proxy in front of the peer (nil without Options.Proxy).
func (p *Peer) Proxy() *proxy.Proxy { return p.proxy }

// Node is the peer's namespace (nil on loopback).
func (p *Peer) Node() *netns.Node { return p.node }

var reSelf = regexp.MustCompile(`shoal up: peer (\S+) in mesh`)

func (p *Peer) start(ctx context.Context) error {
	args := []string{"up", "--headless", "--no-mdns", "--data-dir", p.DataDir, "--key", p.Key, "--name", p.Name,
		"--listen", p.listen, "--api", p.apiInner, "--http", "127.0.0.1:0"}
	if p.proxy != nil {
		args = append(args, "--announce", fmt.Sprintf("/ip4/%s/tcp/%d", p.IP, p.Port))
	}
	for _, b := range p.boot {
		args = append(args, "--bootstrap", b)
	}
	if p.c.opts.Args != nil {
		args = append(args, p.c.opts.Args(p.Index)...)
	}
	var cmd *exec.Cmd
	if p.node != nil {
		cmd = exec.Command("ip", append([]string{"netns", "exec", p.node.Name, p.c.opts.Bin}, args...)...)
	} else {
		cmd = exec.Command(p.c.opts.Bin, args...)
	}
	cmd.Env = append(os.Environ(), "SHOAL_DATA_DIR=", "XDG_DATA_HOME="+filepath.Join(p.c.opts.Dir, "xdg"))
	// The peer dies with the test process, whatever ends it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log := newLogBuffer()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("fault: start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.log, p.exited = cmd, log, exited
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(exited)
	}()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	m, err := log.wait(sctx, exited, reSelf)
	if err != nil {
		return fmt.Errorf("fault: %s did not start: %w\n%s", p.Name, err, log.String())
	}
	if p.ID != "" && p.ID != m[1] {
		return fmt.Errorf("fault: %s came back as %s, was %s", p.Name, m[1], p.ID)
	}
	p.ID = m[1]
	// The API answers once its token file is written.
	for {
		if cl, err := p.Client(); err == nil {
			if _, err := cl.Self(sctx); err == nil {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("fault: %s exited at start\n%s", p.Name, log.String())
		case <-sctx.Done():
			return fmt.Errorf("fault: %s: control API never answered\n%s", p.Name, log.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Client is a control API client for the peer.
func (p *Peer) Client() (*controlapi.Client, error) {
	return controlapi.NewFromDataDir(p.API, p.DataDir)
}

// Running reports whether the process runs.
func (p *Peer) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Log is what the process wrote so far (its latest run).
func (p *Peer) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.log == nil {
		return ""
	}
	return p.log.String()
}

// WaitLog waits until re matches the peer's log and returns the match.
func (p *Peer) WaitLog(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	p.mu.Lock()
	log, exited := p.log, p.exited
	p.mu.Unlock()
	return log.wait(ctx, exited, re)
}

// Kill sends SIGKILL to peer i and waits for it to go.
func (c *Cluster) Kill(i int) error {
	p := c.Peer(i)
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || !p.Running() {
		return fmt.Errorf("fault: %s is not running", p.Name)
	}
	c.logf("kill -9 %s", p.Name)
	if err := cmd.Process.Kill(); err != nil {
		return err
	}
	<-exited
	return nil
}

// Stop sends SIGTERM to peer i and waits up to 20 s for a clean exit.
func (c *Cluster) Stop(i int) error {
	p := c.Peer(i)
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil || !p.Running() {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.err != nil {
			return fmt.Errorf("fault: %s exited with %v after SIGTERM", p.Name, p.err)
		}
		return nil
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("fault: %s still ran 20 s after SIGTERM", p.Name)
	}
}

// Restart starts peer i again with its identity, data dir and addresses,
// bootstrapping from up to three running peers.
func (c *Cluster) Restart(ctx context.Context, i int) error {
	p := c.Peer(i)
	if p.Running() {
		return fmt.Errorf("fault: %s is running", p.Name)
	}
	var boot []string
	for _, q := range c.Peers() {
		if q != p && q.Running() && q.Key == p.Key && len(boot) < 3 {
			boot = append(boot, q.Addr())
		}
	}
	p.boot = boot
	c.logf("restart %s", p.Name)
	return p.start(ctx)
}

// ErrNeedsNetns is returned for faults that only namespaces give.
var ErrNeedsNetns = errors.New("fault: needs network namespaces")

// Partition splits the peers into groups that cannot reach each other
// (peers in no group form one more group); it replaces any earlier one.
func (c *Cluster) Partition(groups ...[]int) error {
	if c.net == nil {
		return ErrNeedsNetns
	}
	c.logf("partition %v", groups)
	return c.net.Partition(groups...)
}

// Heal lifts the partition.
func (c *Cluster) Heal() error {
	if c.net == nil {
		return ErrNeedsNetns
	}
	c.logf("heal")
	return c.net.Heal()
}

// Loss drops pct percent of the packets arriving at every peer.
func (c *Cluster) Loss(pct int) error {
	if c.net == nil {
		return ErrNeedsNetns
	}
	c.logf("loss %d%%", pct)
	return c.net.SetLoss(pct)
}

// Rate caps what peer i sends (tc units, "10mbit"; "" lifts it).
func (c *Cluster) Rate(i int, rate string) error {
	if c.net == nil {
		return ErrNeedsNetns
	}
	c.logf("rate %s %q", c.Peer(i).Name, rate)
	return c.Peer(i).node.Rate(rate)
}

// SetFaults sets the proxy faults (latency, jitter, rate) of every peer.
func (c *Cluster) SetFaults(f proxy.Faults) error {
	c.logf("proxy faults %+v", f)
	for _, p := range c.Peers() {
		if p.proxy == nil {
			return errors.New("fault: cluster started without Options.Proxy")
		}
		p.proxy.SetFaults(f)
	}
	return nil
}

// Close stops every peer (SIGKILL: a clean stop is Stop's to check), closes
// the proxies and deletes the namespaces.
func (c *Cluster) Close() error {
	var errs []error
	for _, p := range c.Peers() {
		p.mu.Lock()
		cmd, exited := p.cmd, p.exited
		p.mu.Unlock()
		if cmd != nil && p.Running() {
			_ = cmd.Process.Kill()
			<-exited
		}
		if p.proxy != nil {
			p.proxy.Close()
		}
		if p.apiFwd != nil {
			p.apiFwd.Close()
		}
	}
	if c.net != nil {
		errs = append(errs, c.net.Close())
	}
	return errors.Join(errs...)
}

// logBuffer collects a process's output and wakes waiters on every write.
type logBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	notify chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{notify: make(chan struct{}, 1)} }

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	n, err := l.b.Write(b)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return n, err
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) wait(ctx context.Context, exited <-chan struct{}, re *regexp.Regexp) ([]string, error) {
	for {
		if m := re.FindStringSubmatch(l.String()); m != nil {
			return m, nil
		}
		select {
		case <-l.notify:
		case <-exited:
			if m := re.FindStringSubmatch(l.String()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("exited before %q", re)
		case <-ctx.Done():
			return nil, fmt.Errorf("no %q: %w", re, ctx.Err())
		}
	}
}
