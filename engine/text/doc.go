// Package text turns raw text into fixed-length sequences of token ids for
// the sequence models of engine/nn.
//
// A Tokenizer splits text into lower-cased word tokens (maximal runs of
// Unicode letters and digits, the same as Python's `[^\W_]+` on lower-cased
// text, which the PyTorch reference trainer uses, so shoal's vocabulary on
// space-separated text equals PyTorch's). Chinese, Japanese and Korean are
// written without spaces between words, so runs of Han, Hiragana, Katakana
// and Hangul characters become character unigrams plus adjacent-character
// bigrams instead of one huge "word"; this needs no dictionary and works for
// any mix of scripts.
//
// A Vocab maps tokens to ids: 0 is padding, 1 is out-of-vocabulary, and the
// most frequent tokens of the training data get 2, 3, ... (ties keep the
// order of first occurrence, like Python's Counter.most_common). Encode pads
// or truncates to a fixed length at the end ("post"), as Keras and the
// reference trainer do.
//
// Tokenizer settings and the vocabulary serialize to JSON because they are
// stored inside the model file: a model is useless without the exact mapping
// it was trained with. Decoding checks sizes and contents, since model files
// can come from other peers.
package text
