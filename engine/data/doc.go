// Package data reads training data into Datasets: flat float32 samples and
// labels, batch first, the layout engine/nn trains on.
//
// Readers:
//   - IDX (the MNIST format), gzip-compressed or raw: ReadIDX, DecodeIDX,
//     LoadIDX, LoadMNIST. Pixels are scaled to [0,1] as float32(b)/255, the
//     same arithmetic as the PyTorch reference.
//   - Labelled text: ReadTextRows picks by extension among TSV
//     (label<TAB>text, .tsv/.txt), CSV (label,text, .csv) and JSON Lines
//     ({"label":...,"text":...}, .jsonl/.ndjson/.json; .json may also hold one
//     array of such objects). A header line is optional. TextDataset turns rows
//     into token-id samples with an engine/text Tokenizer and Vocab.
//
// Every reader is size-limited (see the Max* constants) and reports a bad file
// as "path:line: problem" instead of panicking, since data files come from
// users and, on the mesh, from other peers.
//
// Splits follow the PyTorch reference trainer: with a holdout fraction f the
// first int(n*(1-f)) rows, in file order, train and the rest test.
package data
