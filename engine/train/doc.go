// Package train runs the training loop of the engine: seeded shuffling,
// mini-batches gathered into buffers allocated once, an optimizer chosen
// from a config, epochs, evaluation on a held-out set and a progress
// callback. It also turns a --data path (an MNIST folder of IDX files, or a
// labelled text file) into train/test datasets and a vocabulary, so the
// command line and the distributed trainer prepare data the same way.
//
// A Trainer allocates nothing per step once its buffers exist: the batch
// buffers, the permutation and the optimizer state are made in NewTrainer,
// so a long run puts no pressure on the garbage collector. A Trainer, like
// the nn.Model it drives, is not safe for concurrent use.
package train
