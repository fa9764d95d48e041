// Package modelserver is a node's model-serving listener, separate from the
// control API: TensorFlow Serving's REST API under /v1 (package tfserving),
// KServe's v2 protocol under /v2 (package kserve) and Prometheus metrics at
// /metrics, over one inference.Catalog.
//
// Its defaults follow TF Serving's: 127.0.0.1:8501, and no token on
// loopback, so existing clients and scripts work unchanged; an optional
// bearer token guards every route but the health checks (load balancers
// probe those without credentials), and a non-loopback address is refused
// unless AllowNonLoopback is set. Its limits are its own: bodies, headers
// and timeouts sized for inference requests, not for the control API.
//
// A client that keeps getting error answers (malformed JSON, wrong types,
// unknown models, bodies over the limit, a wrong token) spends a per-client
// error budget (Config.ErrorBudget: 10 a second, 10 at once, per IPv4
// address or IPv6 /64); past it each error answer is held back up to a
// second before it is written, and its large bodies are read at 1 MiB/s,
// so a client flooding the server with bad requests asks only as fast as
// its budget refills while the well-formed requests of every client,
// including its own, are served as before (see errorBudget). A body
// declared over the limit is refused unread, with a lingering close so the
// client gets the 413 rather than a reset.
//
// Config.BenchCeiling, off by default and meant only for benchmarks, adds
// POST /v1/ceiling: it reads the body and answers a fixed small JSON
// object, so the same load sent there and to :predict shows how much of a
// predict's cost is HTTP itself (cmd/bench-serve).
//
// Metrics go to a registry of the caller's (never the global one), so a
// node can add its libp2p host's metrics to the same page.
package modelserver
