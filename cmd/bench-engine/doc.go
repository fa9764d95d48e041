// Command bench-engine measures shoal's training engine against PyTorch on
// the same tasks, one after the other on the same machine, and prints the
// samples-per-second ratios (shoal/PyTorch) with both accuracies.
//
// For each task it runs `shoal train ... --threads N --json` and then
// `python3 torch_ref.py TASK ...` (with OPENBLAS_CORETYPE and
// OPENBLAS_L2_SIZE removed from that command's environment, as
// ../shared/peers/README.md asks), reads the JSON line each prints last,
// prints a table and finally one JSON line with every figure.
//
// For the mlp and the cnn it also prints the training step's rate against
// the core: the flops of one sample's step (forward, weight-gradient and,
// for every layer but the first, input-gradient products: mlp 0.409
// MFLOP, cnn 7.08 MFLOP) times shoal's samples/s, over the widest FMA
// loop's rate (AVX-512 where the core has it) measured before and after
// every shoal run of the task (the best of those, times -threads): the
// host's clock moves, so the peak always comes from the same run.
//
// Absolute speeds on shared machines vary a lot from one minute to the
// next; the ratio of two runs taken back to back is the figure to compare.
// With -repeat N each engine runs N times, alternating, and the median
// speed (and the accuracy of that run) is reported.
//
//	go run ./cmd/bench-engine -shoal bin/shoal -mnist "$(make -s mnist)" -sms ../shared/data/sms_spam.tsv
package main
