// Package registry serves the models of a modelstore.Store: an
// inference.Catalog that loads model versions, keeps a bounded set of them
// in memory, follows the store as versions and labels arrive, and answers
// each version's requests with dynamic batching, as TensorFlow Serving's
// model server does on one machine. The HTTP front-ends and the mesh's
// query forwarding see it only through inference.Catalog and
// inference.Model.
//
// # Loading
//
// Each version's model.safetensors is loaded with artifact.Load, which
// checks the file's sizes and offsets, its content hash (the
// "shoal.sha256" metadata) and that spec, tensors and labels agree. A
// truncated, corrupt, re-hashed or foreign file therefore fails to load:
// the version reports END with the reason in Error, Lookup of it returns
// an error wrapping inference.ErrVersionNotFound with the same reason, and
// it is never served. New loads what the store holds before it returns (as
// TensorFlow Serving waits for its initial load); later versions load in
// the background, reporting LOADING (and Lookup inference.ErrNotReady)
// meanwhile. Without a version or label, Lookup gives the newest version
// that loaded, so a broken new version leaves the previous one served.
//
// # Which versions stay loaded
//
// Every labelled version, plus the newest KeepVersions (default 2)
// versions that load. The others report END "unloaded" (StateUnloaded).
// The newest is what unqualified requests get; the one before it is what
// a rollback needs at once, and what requests already holding it finish
// on; labels ("stable", "canary") name exactly what an operator wants
// served, whatever its age. Failed versions do not count towards
// KeepVersions, so two bad publishes in a row cannot leave a model with
// nothing to serve. Memory is bounded by KeepVersions plus the labelled
// versions, plus one during a swap: a new version is loaded before an old
// one is unloaded (TensorFlow Serving's availability-preserving policy).
// SetLabel on an unloaded version loads it first.
//
// # Hot reload
//
// Two sources of change, both handled by the same reconciling pass (read
// the store, load what the policy wants, then unload what it no longer
// wants):
//
//   - the store's own notification (modelstore.Store.Subscribe), for
//     everything published or labelled through the Store value the
//     registry shares with the training side: no polling, no delay;
//   - a periodic rescan (Options.RescanInterval, default 2 s), for what
//     arrives otherwise: a version folder copied in by hand, another
//     process's publish, labels.json edited.
//
// fsnotify (github.com/fsnotify/fsnotify, which the module proxy serves)
// was considered and left out: inotify watches are per folder, so a new
// model folder and each new version folder would need a watch added after
// the fact (racing the copy into it), events are lost when the kernel
// queue overflows and never come on network file systems, so the rescan
// would be needed anyway as the fallback. With the in-process
// notification covering the common path, what fsnotify would save is at
// most RescanInterval of delay on a hand copy, for a new dependency and a
// second code path. A rescan costs one ReadDir per model plus a stat per
// failed version: nothing next to a forward pass.
//
// A hand copy is not atomic: the pass may see the folder before its file
// is complete. Such a version fails to load (END with the modelfile
// error); the size and modification time of its file are recorded, and it
// is tried again, once a pass, when either changes. Versions are taken as
// immutable once loaded: a loaded version's file is not watched.
//
// Swapping never fails a request: Lookup takes a read lock and returns a
// Model that stays valid after a newer version replaces it; a Model that
// is unloaded answers the requests already queued for it, and later
// Predict calls on it run in a forward pass of their own (its memory goes
// once nobody holds it). Only Close makes Predict fail (ErrClosed,
// wrapped with inference.ErrNotReady).
//
// # Dynamic batching
//
// Each loaded version has a bounded queue (QueueSize requests, default
// 1024) and one batcher goroutine: one, because artifact.Predict
// serialises its passes on a mutex anyway. Predict checks each input on
// its own first (artifact.CheckInput, with the caller's CPU and no lock),
// so a bad input fails its request alone with inference.ErrBadInput and
// never joins a batch; a full queue fails at once with
// inference.ErrOverloaded; a context that ends while queued returns the
// context's error, and the batcher leaves that request out of its pass.
// The batcher takes the first request, then what else is queued, up to
// MaxBatchSize inputs (default 32; a larger request runs alone), and
// answers all of them with one artifact.Predict of the concatenated
// inputs. Should that pass fail all the same (an input no one checked),
// each request is run alone so only the bad one fails.
//
// BatchTimeout, how long a batch that is not full waits for more, is 0 by
// default: the batch is what queued up while the previous pass ran (after
// one yield of the processor). BenchmarkPredictConcurrent, MNIST mlp
// (784-128-10), one input a request, 2 shared cores:
//
//	goroutines          1        16        64     (requests/s)
//	artifact direct   ~20k     ~18k      ~18k
//	BatchTimeout 0    ~18k     ~60k      ~65k     (~11 and ~28 inputs a pass at 16, 64)
//	BatchTimeout 1ms  ~0.5k    ~8.7k     ~52k
//
// Waiting makes a lone caller pay the whole timeout (here ~1.8 ms: timer
// granularity adds to it) and starves the middle load, while at high load
// the queue fills batches by itself. A timeout only pays where a forward
// pass costs much more per call than per input and the load is steady;
// set it then.
//
// # Metrics
//
// With Options.Registerer set (a registry of the caller's, never the
// global one), the registry registers:
//
//	shoal_serving_loaded_versions{model}            gauge
//	shoal_serving_batch_size{model,version}         histogram, inputs a forward pass
//	shoal_serving_queue_depth{model,version}        gauge, requests queued
//	shoal_serving_load_failures_total{model}        counter
//
// The series of a version go when it is unloaded, those of a model when
// its folder goes.
//
// # Concurrency
//
// A Registry and its Models are safe for concurrent use. Lookup, Names,
// Versions and Labels take a read lock and never wait for a load; one pass
// runs at a time; loads run without the locks Lookup and SetLabel need.
package registry
