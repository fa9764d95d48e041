// Package pull moves model files between peers: a stream protocol,
// ProtocolName under the mesh id, that serves versions from the local
// model store, and Fetch / FetchAny, which stream a version from a peer
// into a temporary file, check its size and SHA-256, check that it loads
// (engine/artifact) and only then publish it into the local store as the
// next local version. A peer that lies (wrong hash, short data, a file that
// does not load) leaves nothing in the store.
//
// # Wire format
//
// One request and one answer per stream; all integers big-endian.
//
//	request:  "SHM1" | u8 len | name | u8 len | ref
//	answer:   u8 status
//	  0 ok:        u32 version | [32]byte SHA-256 | u64 size | chunks
//	  1 not found: u16 len | message
//	  2 error:     u16 len | message (busy, too large, unreadable)
//	chunks:   (u32 n | n bytes)* with 1 <= n <= MaxChunk, summing to size,
//	          then u32 0
//
// name follows modelstore.ValidName; ref is "" or "latest" (the newest
// version), a version number, or a label. Both sides enforce the size
// limit (DefaultMaxBytes unless WithMaxBytes says otherwise); every decoder
// bounds what it reads and fails with an error, never a panic.
package pull
