// Package inference is the contract between the models a node serves and
// the HTTP front-ends that speak for them (TensorFlow Serving's REST API,
// KServe's v2 protocol) and the mesh's query forwarding: a Catalog of
// loaded model versions, each a Model that predicts a batch of inputs, and
// the errors every front-end maps to its own status codes. It holds types
// only, so the front-ends and the registry that loads models can be built
// and tested apart.
package inference
