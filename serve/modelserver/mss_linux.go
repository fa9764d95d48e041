package modelserver

import (
	"net"
	"syscall"
)

// loopbackMSS is the TCP segment size the model server advertises on a
// loopback listener: Ethernet's.
//
// Why: loopback's MTU is 64 KiB, so a client connected over it starts
// with a send buffer of a megabyte or more (Linux sizes it from the
// peer's segment size), and a request body the server never reads (one
// declared over the limit, or streamed by a client over its error
// budget) still makes the client's kernel copy that much on every
// connection. A client on the same machine then loads the cores the
// server's other clients need: TestSoakServe's impatient flooders, which
// send 17 MiB bodies on a new connection every 20 ms, spent 66-82% of a
// core in their own kernel copies (perf: _copy_from_iter) and raised
// another client's p99 2.9-3.3×; with 1460-byte segments 19-22% and
// 1.7-2.1×. What it costs a body the server does read: 16 MiB over
// loopback in 8.6 ms instead of 5.2 (best of 20), little beside the
// JSON decoding of such a body; and 1460 bytes is what a real network
// gives anyway.
const loopbackMSS = 1460

// listenControl clamps the segment size of a loopback listener (its
// accepted connections inherit it); other addresses keep the route's.
func listenControl(_, address string, c syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil
	}
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, loopbackMSS)
	}); err != nil {
		return err
	}
	return serr
}
