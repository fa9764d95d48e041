// Package tfserving serves the models of an inference.Catalog through
// TensorFlow Serving's REST API v1, so that clients written for TF Serving
// (curl scripts, tensorflow-serving-api helpers, requests-based code) work
// unchanged against a shoal node. NewHandler returns the http.Handler;
// mount it at /v1/ with the path unstripped.
//
// # Routes
//
//	GET  /v1/models/{m}[/versions/{N}|/labels/{L}]           status
//	GET  /v1/models/{m}[/versions/{N}|/labels/{L}]/metadata  metadata
//	POST /v1/models/{m}[/versions/{N}|/labels/{L}]:predict
//	POST /v1/models/{m}[/versions/{N}|/labels/{L}]:classify
//	POST /v1/models/{m}[/versions/{N}|/labels/{L}]:regress
//
// As in TF Serving the fixed words match case-insensitively, a version is
// decimal digits, and the model name and label are percent-decoded. The
// verb after ':' is parsed from the last path segment (net/http's
// ServeMux patterns cannot match "{m}:predict").
//
// # Signature
//
// Every model has one signature, serving_default (method
// tensorflow/serving/predict), with one input and four outputs:
//
//	input  "text"  DT_STRING [-1]            text models (Signature.Kind text)
//	input  "x"     DT_FLOAT  [-1, 28, 28]    image models: [-1] + Signature.InputShape
//	output "class"         DT_INT64  [-1]           index of the best class
//	output "label"         DT_STRING [-1]           its label
//	output "probability"   DT_FLOAT  [-1]           its probability
//	output "probabilities" DT_FLOAT  [-1, classes]  every class's, in label order
//
// An image instance is nested lists in Signature.InputShape ([28,28]) or
// the flat [Signature.InputSize] ([784]); a wrong shape is refused with a
// message naming both. A text instance is a string, or {"b64": "…"} whose
// bytes are UTF-8.
//
// # Answers
//
// The row form {"instances": [...]} is answered {"predictions": [...]},
// one object per instance holding every output:
//
//	{"predictions": [{"class": 3, "label": "3", "probability": 0.91, "probabilities": [0.01, …]}]}
//
// The columnar form {"inputs": [...]} or {"inputs": {"x": [...]}} is
// answered with the same keys, each a list with one entry per input:
//
//	{"outputs": {"class": [3], "label": ["3"], "probability": [0.91], "probabilities": [[0.01, …]]}}
//
// :classify takes {"examples": [{"x": [784 floats]}, …]} (the feature key
// is the input's name: "x" or "text"; a "context" map may hold it for every
// example instead) and answers {"results": [[["label", score], …], …]}, a
// pair for every class in label order. :regress answers {"results": [v,
// …]} for a model with one output and 400 for every classifier (all of
// shoal's models today).
//
// Status answers {"model_version_status": [{"version": "3", "state":
// "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]},
// all versions newest first for the bare path and one for /versions/N or
// /labels/L; a version that failed to load has error_code "UNKNOWN" and
// its error. Metadata answers TF Serving's GetModelMetadataResponse:
// model_spec {name, signature_name "", version} and
// metadata.signature_def.signature_def.serving_default.
//
// Errors are {"error": "…"} with TF Serving's status codes and, where it
// has one, its wording: 400 bad input or a malformed path ("Malformed
// request: POST /v1/models/m:foo"), 404 unknown model, version or label
// ("Servable not found for request: Latest(m)", "Could not find any
// versions of model m"), 405 wrong method, 413 body over
// Options.MaxBodyBytes, 429 inference.ErrOverloaded, 503 not ready
// (loading), 504 deadline, 499 client gone, 500 otherwise.
//
// # Deviations from TF Serving
//
//   - NaN, Infinity and -Infinity are refused (400, saying so), as are
//     numbers outside float32's range; TF Serving accepts those tokens.
//   - Only the signature "serving_default" (or none) is known; :classify
//     and :regress use it too, where TF Serving needs a signature of the
//     classify or regress method.
//   - An unknown label is 404 (TF Serving: 400 "Unrecognized servable
//     version label"), as inference.ErrVersionNotFound says; a version that
//     is still loading is 503 (TF Serving: 404).
//   - A wrong method is 405 and a path outside /v1/ is 404 (TF Serving: 400
//     "Malformed request" or no route).
//   - The columnar form needs the batch dimension: "inputs" is a list even
//     for one input; unknown keys in a named "inputs" object are refused
//     (TF Serving ignores them).
//   - {"b64": …} values are accepted for text inputs only (as UTF-8); an
//     image input takes numbers.
//   - A feature of :classify/:regress examples is a value or a flat list, as
//     in tf.Example; booleans are refused rather than read as 0/1.
//   - Floats are written as float32 shortest decimals, without TF Serving's
//     trailing ".0" on whole numbers.
//   - A request may hold at most Options.MaxBatch instances or examples.
//   - The request Content-Type is not checked (curl -d sends a form type);
//     answers are application/json.
package tfserving
