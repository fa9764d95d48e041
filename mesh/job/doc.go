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
// Progress goes out on the same "jobs" topic as small status messages
// (state, step, loss, hold-out accuracy, consensus distance, bytes, shards
// held); parameters and shards move on streams. Members of a job are the
// peers that sent a status for it recently and are alive in the peer table.
// A peer keeps the job spec, its shards and a checkpoint (parameters and
// step; the optimizer state starts afresh) in its data dir, so a restarted
// peer resumes the job where it left off.
//
// In private-data mode (Spec.Private) no shard is cut or moved: every
// member trains on its own copy of the data path and keeps a tenth of it
// as its hold-out; only parameters leave a peer (and the submitter's
// vocabulary, for text, which every member needs to encode its texts).
//
// Shards a peer no longer owns are kept, not dropped: with r = 2 and
// MNIST-sized data the extra disk is small, and keeping them can only help
// a later member fetch them (shards.MakePlan reports what could be dropped).
//
// Admission (admission.go): the jobs topic's validator drops an
// announcement no peer may take (an id that does not hash its spec, a model
// that cannot be sized), so GossipSub scores its sender down; a peer then
// takes a job only when its operator's policy allows it (auto, ask: held until accepted,
// see pending.go; off), its job cap and its memory budget allow it. A peer
// that refuses tells the submitter on the topic (refusal.go). Submissions
// answer at once and cut their data in the background (submit.go); ended
// jobs beyond Config.KeepFinished are forgotten (prune.go).
//
// Concurrency: a Manager is safe for concurrent use; each job runs on its
// own goroutine, and event subscribers get copies.
package job
