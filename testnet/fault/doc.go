// Package fault runs real `shoal up` processes under injected faults, for
// the soak scenarios of issue 16 (partitions, crashes, slow and lossy
// links, intruders) and for any test that wants the same.
//
// A Cluster starts N peers from one shoal binary (built once with go build
// -o, or named by SHOAL_SOAK_BIN). Where this process may create network
// namespaces (root, iproute2; package netns) every peer runs in its own
// namespace, joined by a veth pair to a bridge in a hub namespace the
// cluster makes, at 10.77.0.(10+i); nothing is routed to the host, and the
// namespaces are deleted on Close and by netns.Sweep after a run that died.
// Elsewhere the cluster falls back to processes on 127.0.0.1, where only
// the proxy's faults (latency, bandwidth, cut) and crashes are available
// (Mode and Why say which, and why).
//
// Faults: Kill (SIGKILL) and Restart a peer (same identity, data dir and
// ports); Partition into groups and Heal (nftables drop rules inside each
// namespace, or blackhole routes without nft); Loss (nftables numgen, per
// packet arriving at a peer); Rate (tc tbf on a peer's sending side); and
// with Options.Proxy, Latency ± jitter from a user-space proxy in front of
// every peer's listener (this kernel has no netem).
//
// The proxies run in this process, not as helper binaries: a proxy's
// listening socket is made inside the peer's namespace, and its upstream
// dials too, by a goroutine locked to an OS thread switched into the
// namespace with setns (netns.NS.Do). The test can then change the faults
// of every open connection with a method call, read byte counts, and the
// proxy dies with the test, so no helper process can outlive it. The peer
// listens on 127.0.0.1 of its namespace and announces the proxy's address
// (shoal up --announce), so every connection to it passes the proxy. Its
// control API stays on its namespace's loopback (it refuses anything else);
// the cluster forwards a loopback port of the host to it through the same
// kind of proxy (no faults), so `shoal jobs --api …` and the controlapi
// client work from the test's namespace unchanged.
//
// Concurrency: a Cluster's methods are safe for concurrent use.
package fault
