// Package inferencetest is a test helper for the HTTP front-ends of
// package inference (serve/tfserving, serve/kserve): a FakeCatalog over
// fixed versions that follows the inference.Catalog contract, a FakeModel
// that predicts deterministically from its input and records what it was
// asked, the standard catalog both front-ends' tests use (NewCatalog), and
// helpers that build inputs and the answers FakeModel gives for them.
//
// It is for tests only: nothing outside _test.go files should import it.
// It imports nothing but the standard library and package inference.
package inferencetest
