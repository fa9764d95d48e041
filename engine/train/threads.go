package train

import "github.com/shoalmesh/shoal/engine/gemm"

// setThreads sets the process-wide number of GEMM threads (the one knob of
// parallelism in the engine: every Dense, Conv2D and LSTM product goes
// through gemm.Sgemm).
func setThreads(n int) { gemm.SetThreads(n) }
