// Package edge holds what small devices need: int8 quantization, pruning and
// int8 kernels. It builds on engine and is used by mesh and serve.
package edge
