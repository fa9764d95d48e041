// Package job runs training jobs on the mesh with no server.
//
// A job (model, data, hyper-parameters, averaging settings, stop rule,
// minimum peers) is submitted to one node, which cuts the training data
// into content-addressed shards (package shards) and announces the job and
// its shard manifest on the "jobs" GossipSub topic. Every full peer (edge
// peers only when the job asks for them) joins: it fetches the shards it
// owns under rendezvous hashing over the current members, trains locally on
// the shards it is first owner of, and every H local steps averages its
// parameters with one random live partner (package avg). When its step
// budget is spent it waits for the others, runs a consensus phase until the
// relative consensus distance is below 1e-3, adopts the byte-identical final
// vector, and publishes the model into its model store as a new version.
//
// Progress goes out on the job's own topic ("job/<id>"): small status
// messages only — parameters and shards move on streams. A peer keeps the
// job spec, its shards and a checkpoint in its data dir, so a restarted
// peer resumes the job where it left off.
//
// Concurrency: a Manager is safe for concurrent use; each job runs on its
// own goroutine, and event subscribers get copies.
package job
