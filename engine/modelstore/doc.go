// Package modelstore keeps versioned model files on disk, so that a training
// job can publish a model and the serving side can load it without either
// importing the other:
//
//	<root>/<name>/<version>/model.safetensors   version = 1, 2, 3, ...
//	<root>/<name>/labels.json                   {"canary":4,"stable":3}
//
// root is normally <data-dir>/models. Versions are decimal numbers without
// leading zeros, counted up from 1; the newest is the largest. Labels (such as
// "stable" and "canary") name versions; they live in labels.json, written
// atomically. Entries whose names do not fit these rules (temporary folders,
// which start with a dot) are ignored when listing.
//
// # Atomicity
//
// Publish validates the model with modelfile.Decode, writes it into a
// temporary folder beside the versions (fsyncing the file and the folder),
// then renames the folder to the next version number and fsyncs the model
// folder. A reader therefore sees either no version N or a complete one, which
// is what hot reload needs. A crash can leave a ".tmp-*" folder behind; it is
// never listed, and is safe to delete when no Publish is running.
//
// # Notifications
//
// Subscribe registers a listener that is told, synchronously and without
// polling, about every version published and every label changed through
// the same Store value (see Subscribe for the contract). A server uses it to
// load a new version at once, and a periodic rescan of the folders for what
// arrives by other means (another process, a folder copied in by hand).
//
// # Concurrency
//
// A Store is safe for concurrent use by multiple goroutines: a mutex
// serializes Publish's choice of version and every label update, and the
// reading methods see the file system's state at the time of the call.
// Across processes, Publish stays safe (renaming onto an existing version
// folder fails, and Publish then takes the next number), but label updates are
// a read-modify-write and the last writer wins: run one writer per store.
//
// Names of models and labels are 1 to 64 characters from [A-Za-z0-9._-],
// starting with a letter or digit, so they can never escape the root ("..",
// "a/b", "/x" are rejected). A label must also contain a non-digit and must not
// be "latest", so that Resolve can tell labels, version numbers and "latest"
// apart.
package modelstore
