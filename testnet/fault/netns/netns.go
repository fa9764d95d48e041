// Package netns builds small test networks out of Linux network namespaces:
// a hub namespace holding a bridge, and one namespace per node joined to it
// by a veth pair, each node with an address in a private test subnet. On
// them it injects faults the kernel offers without netem: partitions
// (nftables drop rules on a set of addresses, or blackhole routes where nft
// is missing), random packet loss (nftables numgen) and bandwidth caps (tc
// tbf). Latency is not here: this kernel has no netem, so it comes from a
// user-space proxy (package proxy) whose sockets NS.Listen and NS.Dial make
// inside a namespace.
//
// Everything is done with the ip, nft and tc commands (iproute2, nftables),
// so it needs root; Available says whether it can work here, and why not.
// Names carry the creating process's id (Prefix), so concurrent runs never
// meet, and Sweep removes what a run that died (a test timeout, a kill)
// left behind. Only addresses inside the namespaces a Net made are used:
// nothing is routed to or from the host's own interfaces.
//
// Entering a namespace from Go. A namespace is a property of an OS thread,
// and a socket belongs to the namespace of the thread that made it, for its
// whole life. NS.Do runs a function on a fresh goroutine locked to its
// thread, switched into the namespace with setns(2) and back afterwards (a
// thread that cannot switch back is left locked, so the runtime ends it
// rather than reuse it): sockets made inside stay in the namespace while
// any goroutine uses them. Processes go in with `ip netns exec`, which
// execs the command, so the pid the caller holds is the command's own.
//
// Concurrency: NS and Net methods are safe for concurrent use; fault
// changes on one namespace are serialized.
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Available reports whether this process can create namespaces, and if not
// why: it must run as root with ip (iproute2) on PATH, and creating and
// deleting a namespace must work.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("netns: not root (network namespaces need CAP_SYS_ADMIN)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("netns: no ip command (install iproute2)")
	}
	name := Prefix() + "probe" + strconv.Itoa(int(seq.Add(1)))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("netns: ip netns add: %v: %s", err, bytes.TrimSpace(out))
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("netns: ip netns del: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// HasNft reports whether the nft command is installed (partitions then use
// drop rules and loss is available).
func HasNft() bool {
	_, err := exec.LookPath("nft")
	return err == nil
}

const namePrefix = "shoalsoak-"

var seq atomic.Int64

// Prefix is the start of every namespace name this process makes:
// "shoalsoak-<pid>-".
func Prefix() string { return namePrefix + strconv.Itoa(os.Getpid()) + "-" }

// Sweep deletes namespaces made by processes that no longer run (a test
// killed by its timeout leaves them). It returns the names it deleted.
func Sweep() ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var gone []string
	var errs []error
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), namePrefix)
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		n, err := strconv.Atoi(pid)
		if err != nil || n == os.Getpid() {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", pid)); err == nil {
			continue // its maker still runs
		}
		if err := ipCmd("netns", "del", e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		gone = append(gone, e.Name())
	}
	return gone, errors.Join(errs...)
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netns: ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// NS is one network namespace.
type NS struct {
	Name string
	mu   sync.Mutex // serializes fault changes
}

// New creates the namespace Prefix()+suffix with its loopback up.
func New(suffix string) (*NS, error) {
	ns := &NS{Name: Prefix() + suffix}
	if err := ipCmd("netns", "add", ns.Name); err != nil {
		return nil, err
	}
	if err := ipCmd("-n", ns.Name, "link", "set", "lo", "up"); err != nil {
		_ = ns.Delete()
		return nil, err
	}
	return ns, nil
}

// Delete removes the namespace (its interfaces go with it; a veth's other
// end too).
func (ns *NS) Delete() error { return ipCmd("netns", "del", ns.Name) }

// Command returns a command that runs name inside the namespace.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command inside the namespace and returns its combined output;
// the error carries the output.
func (ns *NS) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("netns %s: %s %s: %v: %s", ns.Name, name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// Do runs fn on an OS thread switched into the namespace. Sockets fn
// makes belong to the namespace for good. fn must not start goroutines
// that make sockets (they would run on other threads).
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/run/netns", ns.Name))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: setns %s: %w", ns.Name, err)
			return
		}
		err = fn()
		if setns(orig) == nil {
			runtime.UnlockOSThread()
		} // else: stay locked; the runtime ends the thread with the goroutine
		errc <- err
	}()
	return <-errc
}

func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }

// Listen is net.Listen inside the namespace.
func (ns *NS) Listen(network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := ns.Do(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}

// Dial is net.Dialer.DialContext inside the namespace.
func (ns *NS) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}
