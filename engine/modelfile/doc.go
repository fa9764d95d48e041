// Package modelfile reads and writes shoal model files: one safetensors file
// (https://github.com/huggingface/safetensors) holding every tensor of a model
// plus string metadata (the model spec, the tokenizer, class labels,
// provenance, the quantization scheme) and a content hash.
//
// # Format
//
// A file is an 8-byte little-endian unsigned header length N, N bytes of UTF-8
// JSON, then the data section:
//
//	{"__metadata__":{"key":"value",...},
//	 "name":{"dtype":"F32","shape":[2,3],"data_offsets":[begin,end]}, ...}
//
// Offsets are relative to the start of the data section. Tensors are
// little-endian and row-major. Known dtypes are BOOL, U8, I8, F8_E5M2,
// F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, I64, U64 and F64.
//
// # What Write produces (the canonical encoding)
//
// Write is deterministic, because peers of the mesh compare models byte for
// byte: the same tensors and metadata always give a byte-identical file.
//
//   - The header is compact JSON with no insignificant white space. The
//     "__metadata__" object comes first (left out when there is no metadata),
//     its keys in ascending byte order; then one entry per tensor in ascending
//     byte order of name, each exactly {"dtype":..,"shape":[..],"data_offsets":[b,e]}.
//   - Strings are escaped minimally: `"` and `\` get a backslash, \b \f \n \r \t
//     use their short forms, other bytes below 0x20 become \u00xx (lower-case
//     hex); everything else, including <, >, & and U+2028, is written as raw
//     UTF-8. This is spelled out here, not left to encoding/json, so that the
//     hash below cannot change with a Go release.
//   - The header is padded with spaces to a multiple of 8 bytes (as the
//     reference implementation does), so the data section starts 8-aligned.
//   - The data section holds the tensors back to back, in name order, with no
//     padding between them. Tensors after an odd-sized one may therefore be
//     unaligned; readers here decode with encoding/binary, never by casting.
//
// # Content hash
//
// The metadata key "shoal.sha256" holds 64 lower-case hex digits:
//
//	SHA-256 of the canonical encoding (above) of the same tensors and of the
//	metadata without the "shoal.sha256" key.
//
// Because it is defined over the canonical encoding rather than over the bytes
// on disk, the hash identifies the content: a foreign file that lays the same
// tensors out differently has the same hash. Write sets the key (replacing any
// value the caller passed) and returns the hash; Read and Decode recompute it
// and reject a mismatch with ErrHashMismatch. A file without the key (for
// example one written by PyTorch) is accepted, and File.Hash is then the
// recomputed hash. The hash of a file written by Write also determines its
// bytes, since the file is the canonical encoding plus the hash key; FileSHA256
// gives the plain SHA-256 of a whole file for byte-level comparison.
//
// # Reading hostile input
//
// Decode treats its input as hostile: header length limited (MaxHeaderSize by
// default), the whole file limited (DefaultMaxFileSize for Read), header valid
// UTF-8 starting with '{', strict JSON with no duplicate keys at any level and
// no unknown tensor fields, known dtypes, non-negative integer dims, shape
// product times dtype size equal to the offsets span (with overflow checks),
// offsets that tile the data section exactly (no overlap, gap, truncation or
// trailing bytes). Every failure is an error wrapping ErrFormat (or
// ErrTooLarge, ErrHashMismatch) that names the problem; nothing panics.
//
// # Concurrency and aliasing
//
// Functions here keep no state and are safe for concurrent use. Decode returns
// tensors whose Data aliases the input slice (no copy); Read owns its buffer.
// Write writes a temporary file in the target's directory, fsyncs it, renames
// it over the target and fsyncs the directory, so the target path only ever
// holds the old file or the complete new one.
package modelfile
