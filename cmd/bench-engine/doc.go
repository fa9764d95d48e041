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
// Absolute speeds on shared machines vary a lot from one minute to the
// next; the ratio of two runs taken back to back is the figure to compare.
// With -repeat N each engine runs N times, alternating, and the median
// speed (and the accuracy of that run) is reported.
//
//	go run ./cmd/bench-engine -shoal bin/shoal -mnist "$(make -s mnist)" -sms ../shared/data/sms_spam.tsv
package main
