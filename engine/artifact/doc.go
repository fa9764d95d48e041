// Package artifact is a trained model together with everything needed to
// use it: the network (spec and weights), the class names, for text models
// the tokenizer, vocabulary and sequence length, and the provenance of the
// run that made it. It is saved to and loaded from one modelfile
// (safetensors) file: weights as tensors, the rest as JSON strings in the
// file's metadata under the keys named by the Meta* constants.
//
// A model file may come from another peer, so Load trusts nothing: the
// modelfile layer checks sizes, offsets and the content hash, and this
// package checks that spec, tensors, labels and encoder agree with each
// other before a model is returned.
//
// An Artifact's Predict methods are safe for concurrent use (they take a
// lock, since an nn.Model is not); its exported fields must not be changed
// while predictions run.
package artifact
