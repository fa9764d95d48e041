// Package engine is the numeric core of shoal: tensors as flat float32
// slices, layers, losses, optimizers, model specs, tokenizers, data readers
// and model files. Its subpackages hold one idea each (gemm, nn, text, data,
// modelfile); engine imports no networking, UI or HTTP package, so every
// other part of shoal can stand on it.
package engine
