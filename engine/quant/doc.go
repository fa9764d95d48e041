// Package quant is shoal's one symmetric int8 quantizer: the scale of a
// group of values is its largest magnitude over 127, and a value becomes
// round(v/scale) clamped to [-127, 127] (never -128, so that negation stays
// in range and the code is symmetric around 0). The model quantizer
// (engine/nn, per output channel of a weight, per row of an embedding) and
// the int8 compression of parameter exchanges (mesh/avg, per chunk) both
// call it, so a weight sent int8 over the mesh and a weight stored int8 in
// a model file are rounded the same way.
//
// Rounding divides in float64 (math.Round(v/scale)), not by multiplying
// with 1/scale in float32: it runs once per weight, off the hot path, and
// the division keeps it exactly what mesh/avg has always sent. The
// activations of an int8 forward pass are quantized per batch row on the
// hot path by engine/qgemm, with the same scale rule.
package quant
