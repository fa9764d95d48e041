// Package shards spreads training data among the peers of a job.
//
// A data set is cut into shards whose identity is the SHA-256 of their
// bytes (content addressing), so a shard fetched from any holder can be
// checked. Each shard is owned by the top-r members under rendezvous
// (highest-random-weight) hashing of (shard id, peer id): when a member
// joins or leaves, only the shards it ranked in the top r move, and every
// peer computes the same owners from the same member list without asking
// anyone. Owners fetch missing shards over the stream protocol
// /shoal/<meshid>/shard/1.0.0 from any peer that holds them.
//
// A holder keeps a shard it no longer owns until the new owners confirm
// they have it (Plan reports such shards as droppable only then), so no
// shard is lost while one holder lives.
package shards
