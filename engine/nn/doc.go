// Package nn is shoal's neural-network engine: Keras-Sequential-like model
// specs (JSON/YAML and presets), layers (dense, embedding, LSTM, conv2d,
// maxpool2d, flatten, dropout, activations), losses on logits, and the
// SGD/Adam/AdamW optimizers.
//
// Numbers are float32, activations flat row-major with the batch first.
// All of a model's parameters live in one []float32 (Model.Params), each
// layer's weights a sub-slice of it, because the mesh averages that slice
// in place between peers; gradients mirror it (Model.Grads). Matrix
// products go through engine/gemm.Sgemm, so its kernels set most of the
// speed. With gemm.SetThreads(n) > 1 a training step is split across n
// cores through engine/par: a large dense layer by input feature, small
// dense layers and the softmax loss by rows (dense_split.go), convolutions
// by samples (conv_split.go), the optimizer step by parameter range.
//
// A model keeps its activation and gradient buffers between batches and
// only grows them for a larger batch: steady-state training allocates
// nothing (TestNoAllocsPerStep, and allocs/op in the benchmarks). One seed
// fixes initialisation and dropout, so a run is reproducible bit for bit
// on one machine with the same thread count. A split dense layer adds its
// partial products in another order than one thread does, so runs with
// different thread counts agree to float32 rounding, not bit for bit
// (TestDenseSplitMatchesOneThread).
//
// Text models: an embedding layer computes each sample's length from its
// token ids (non-padding tokens, post-padding), and an LSTM after it
// outputs the hidden state at the last real step. The LSTM sorts the batch
// by length so that each step only computes the sequences still running.
//
// x86 handles subnormal floats in microcode, and Go cannot switch on
// flush-to-zero, so loss gradients and optimizer moments below ~1e-30 are
// flushed to zero explicitly (see optim.go); without that a nearly
// converged model trained several times slower.
package nn
