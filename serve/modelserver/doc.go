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
// Config.BenchCeiling, off by default and meant only for benchmarks, adds
// POST /v1/ceiling: it reads the body and answers a fixed small JSON
// object, so the same load sent there and to :predict shows how much of a
// predict's cost is HTTP itself (cmd/bench-serve).
//
// Metrics go to a registry of the caller's (never the global one), so a
// node can add its libp2p host's metrics to the same page.
package modelserver
