// Package edgepull is how an edge peer (`shoal up --role edge`) fetches a
// model it is asked to serve: the int8 form from a peer whose heartbeats
// say it serves one, else the float form from any holder, quantized here
// (engine/artifact's dynamic per-row scheme, as `shoal models quantize`
// does); only the int8 file is published into the node's store, where the
// registry serves it over HTTP and the mesh, and heartbeats announce it
// as int8.
//
// Every step keeps to the registry's memory budget (registry.Options
// MemBudget): the size a peer announces is weighed before the transfer,
// the file's footprint (registry.FileFootprint: the file, the loaded
// weights, a full batch's activations) before it is loaded or quantized,
// the int8 result before it is published, and the load itself once more.
// A refusal wraps registry.ErrOverBudget and names the sizes: what the
// model needs, the budget, and what the loaded models already use.
//
// Why a package of its own: it joins the pull protocol (serve/pull), the
// registry's budget (serve/registry) and the mesh's heartbeats, which
// neither of the first two should know of; serve/node wires it in for
// edge nodes in place of the plain pull.Puller.
package edgepull
