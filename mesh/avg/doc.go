// Package avg averages a model's parameters with peers over libp2p streams,
// with no server: pairwise push-pull gossip (ProtocolName under the mesh id), weighted by samples
// seen, optionally compressed (fp16, int8 with per-chunk scales) with error
// feedback, guarded against bad partners (NaN/Inf and length checks always,
// ClippedGossip on request, per-peer reputation), with an optional
// DiLoCo-style outer step, a consensus phase and a final agreement on one
// bit-identical vector.
//
// It takes a libp2p host and a []float32 and knows nothing of jobs, shards
// or presence (package mesh and mesh/job decide who the candidates are), so
// it does not import package mesh.
//
// One exchange, initiator I and responder R, on one stream:
//
//	I → R  push header (job, round, weight, length, encoding, chunk, SHA-256 of payload, clip radius)
//	R → I  accept | refuse(busy, banned, wrong length, unknown job, final)
//	I → R  payload
//	R → I  reply header + payload (R's own vector, same encoding) | refuse(rejected)
//	I → R  commit                  (I validated R's vector)
//	R → I  done                    (R applied the average; I applies it now)
//
// Both ends compute the same average from the same decoded numbers, so
// without clipping they hold bit-identical vectors afterwards and the
// weighted mean of all peers' vectors is preserved (with compression it is
// the mean of params + unsent residuals that is preserved: error feedback).
// With RobustClip both ends clip the difference to the smaller of their two
// radii, so a clipped exchange leaves them apart but still keeps the mean; a
// difference beyond StrikeRatio radii is rejected instead and costs the
// sender reputation. A failure before commit leaves both untouched; a
// failure between done and its arrival leaves R averaged and I not (the only
// window where the mean moves).
//
// Periods and bytes: Round is a peer's averaging period boundary, and a
// peer takes part in at most one exchange per period (see Round): it
// initiates only when no partner came to it, and refuses a second partner
// in the same period as busy. Measured, 16 hosts on loopback, 100k floats,
// every peer calling Round once per round: relative consensus distance
// 1e-3 in 19-24 rounds from random vectors, 18-23 model copies sent per
// peer (the unpaced rounds before, where every peer initiated and answered
// every push, took 13-14 rounds of about 2 exchanges: 27 copies). One
// exchange sends 1.0004x the model for f32, 0.5004x fp16, 0.2506x int8.
//
// See the Averager type for the concurrency contract with the trainer.
package avg
