// Package kserve serves the models of an inference.Catalog through the
// KServe v2 REST protocol (the Open Inference Protocol, also spoken by
// Triton and Seldon MLServer), so that clients written for those servers
// work unchanged against a shoal node. NewHandler returns the
// http.Handler; mount it at /v2 and /v2/ with the path unstripped.
//
// # Routes
//
//	GET  /v2                                         server metadata
//	GET  /v2/health/live                             200 {"live": true}
//	GET  /v2/health/ready                            200 {"ready": true}, 503 {"ready": false}
//	GET  /v2/models/{m}[/versions/{v}]               model metadata
//	GET  /v2/models/{m}[/versions/{v}]/ready         model ready
//	POST /v2/models/{m}[/versions/{v}]/infer         inference
//
// Without /versions/{v} the newest loaded version answers. The server is
// ready when at least one model has a loaded version. Model ready answers
// 200 {"name": m, "ready": true}, 400 {"name": m, "ready": false} while the
// version loads (the protocol's 4xx for false) and 404 {"error": …} for a
// model or version the catalog does not have (or one that failed to load).
//
// # Tensors
//
// Every model has one input and four outputs:
//
//	input  "text"  BYTES [-1]          text models: shape [N] or [N,1], one string per text
//	input  "x"     FP32  [-1, 28, 28]  image models: [N] + Signature.InputShape, or [N, InputSize]
//	output "class"         INT64 [N]           index of the best class
//	output "label"         BYTES [N]           its label
//	output "probability"   FP32  [N]           its probability
//	output "probabilities" FP32  [N, classes]  every class's, in label order
//
// An image input may use any numeric datatype (FP32, FP64, INT8…INT64,
// UINT8…UINT64); values are used as given, in float32. Data may be flat
// or nested exactly as the shape. An answer lists every output in the
// order above, or those the request's "outputs" name, in its order:
//
//	{"model_name": "mnist", "model_version": "3", "id": "42", "outputs": [
//	  {"name": "class", "shape": [1], "datatype": "INT64", "data": [7]},
//	  {"name": "label", "shape": [1], "datatype": "BYTES", "data": ["7"]},
//	  {"name": "probability", "shape": [1], "datatype": "FP32", "data": [0.98]},
//	  {"name": "probabilities", "shape": [1, 10], "datatype": "FP32", "data": [0.001, …]}]}
//
// "id" echoes the request's; a request without one gets a random UUID, as
// KServe's server does. Model metadata answers {"name", "versions" (the
// loaded ones, newest first), "platform": "shoal", "inputs", "outputs"};
// server metadata {"name": "shoal", "version", "extensions": []}.
//
// Errors are {"error": "…"}: 400 bad input, 404 unknown model or version,
// 405 wrong method, 413 body over Options.MaxBodyBytes, 429
// inference.ErrOverloaded, 503 not ready, 504 deadline, 499 client gone,
// 500 otherwise.
//
// # Strictness and deviations
//
//   - Decoding is strict where the protocol is: "inputs" required and
//     non-empty; each tensor's name, shape (integers >= 0), datatype
//     (case-sensitive) and data required; the element count must match the
//     shape; element types must match the datatype (integers in range,
//     floats finite); parameters are strings, numbers or booleans. Unknown
//     fields are ignored (the protocol's extension mechanism), and null is
//     read as an absent optional field.
//   - NaN and Infinity are refused with a message that says so, as are
//     values outside FP32's range for FP32 data. FP16 and BF16, which have
//     no JSON form, are refused.
//   - The binary tensor data extension (Inference-Header-Content-Length,
//     binary_data_size) is refused; output parameters such as binary_data
//     are ignored and answers are always JSON.
//   - The input must be named as the metadata says and be the only one;
//     unknown or repeated outputs are refused.
//   - Server ready is 503 when no model is loaded; the protocol says only
//     "4xx" for false answers of the health APIs, and answers carry a
//     JSON body ({"live"/"ready": bool}) where the protocol allows an
//     empty one.
//   - A version in the path is a positive integer (400 otherwise); the
//     protocol allows any string.
//   - A request may hold at most Options.MaxBatch inputs; an empty batch
//     is refused.
//   - The request Content-Type is not checked; answers are
//     application/json.
package kserve
