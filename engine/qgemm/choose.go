package qgemm

// choose returns the kernel set named by want ("go", "avx2", "vnni", "sdot" or
// "avx512-vnni"), or the best one this machine has when want is empty or
// names one it cannot run.
func choose(want string) kernelSet {
	ks := available()
	if want == "vnni" {
		want = "avx512-vnni"
	}
	for _, k := range ks {
		if k.name == want {
			return k
		}
	}
	return ks[0]
}

// Kernel names the kernel set in use: "avx512-vnni", "avx2", "sdot" or "go".
func Kernel() string { return impl.name }

// Levels is the largest activation code of the kernel set in use: 127
// (8-bit activations) or 63 (7-bit, AVX2 without VNNI; see the doc).
func Levels() int32 { return impl.levels }

// Shift is what an activation code adds to its signed value: 128 or 64.
func Shift() int32 { return impl.shift }
