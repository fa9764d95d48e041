// Package forward answers queries for models this peer does not hold by
// sending them over the mesh to a peer that does.
//
// Two halves share one stream protocol, ProtocolName under the mesh id
// (/shoal/<meshid>/infer/1.0.0):
//
//   - Server answers requests from the local catalog only (never forwarding
//     again, so requests cannot loop), checking each input and predicting
//     within the request's deadline.
//   - Catalog is an inference.Catalog that prefers the local catalog and,
//     for a model not held here, returns a Model whose Predict goes to a
//     peer that announces the model in its heartbeats (mesh.ServedModel):
//     least busy first (queue depth, then load), ties broken by RTT, with
//     failover to the next holder and an exponential back-off for peers
//     that keep failing. The answering peer is recorded in the request's
//     inference.Route.
//
// # Wire format
//
// One request and one response per stream, each one frame: a 4-byte
// big-endian length, then the payload (at most MaxFrameSize). Integers are
// big-endian, float32 and float64 values IEEE-754 little-endian, a short
// string (str16) a 2-byte length and UTF-8 bytes, a text input (str32) a
// 4-byte length and bytes.
//
//	request  = op:u8 (1 predict, 2 metadata) model:str16 version:u32
//	           label:str16 timeout_ns:u64 kind:u8 (0 none, 1 text, 2 f32)
//	           n:u32 ( n × str32 | dim:u32 n×dim × f32 )
//	response = 0:u8 n:u32 n × (class:u32 label:str16 p:f64 k:u32 k × f64)
//	         | 1:u8 name:str16 version:u32 kind:str16 ndims:u8 ndims × u32
//	           size:u32 nlabels:u32 nlabels × str16 hash:str16 int8:u8
//	           nmap:u16 nmap × (label:str16 version:u32)
//	         | 2:u8 errkind:u8 message:str16
//
// The timeout is the time the sender still gives the request, not a
// wall-clock deadline: peers' clocks need not agree.
package forward
