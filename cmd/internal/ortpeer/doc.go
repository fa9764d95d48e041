// Package ortpeer runs the ONNX Runtime peer of the benchmark programs:
// ../shared/peers/onnx_export.py to write the reference networks as ONNX
// files and ../shared/peers/ort_ref.js to time them under node, one
// thread. It installs nothing: when node or onnxruntime-node is missing,
// Runner.Note says so and how to install it (../shared/peers/README.md).
package ortpeer
