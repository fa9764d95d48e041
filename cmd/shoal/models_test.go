package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalmesh/shoal/engine/data/datatest"
)

// TestModelsAddListLabel drives `shoal models` as a user would: train a
// small model, add it twice, copy a truncated version in by hand, list,
// label a good version, and be refused a label on the broken one.
func TestModelsAddListLabel(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	model := filepath.Join(dir, "days.safetensors")
	if _, stderr, err := runJobCLI(ctx, "train", "--model", "seed-text", "--data", datatest.DaysTSV(t, 80), "--epochs", "1", "--out", model); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	data := filepath.Join(dir, "node")
	for i, want := range []string{"days version 1", "days version 2"} {
		out, _, err := runJobCLI(ctx, "models", "add", "days", model, "--data-dir", data)
		if err != nil || strings.TrimSpace(out) != want {
			t.Fatalf("add #%d: %q, %v; want %q", i+1, out, err, want)
		}
	}
	if _, _, err := runJobCLI(ctx, "models", "add", "days", filepath.Join(dir, "nope"), "--data-dir", data); err == nil {
		t.Fatal("adding a missing file succeeded")
	}
	if _, _, err := runJobCLI(ctx, "models", "add", "bad/name", model, "--data-dir", data); err == nil {
		t.Fatal("adding under an invalid name succeeded")
	}
	// A version copied in by hand, cut short.
	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	v3 := filepath.Join(data, "models", "days", "3")
	if err := os.MkdirAll(v3, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v3, "model.safetensors"), b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	if out, _, err := runJobCLI(ctx, "models", "label", "days", "2", "stable", "--data-dir", data); err != nil || !strings.Contains(out, "version 2") {
		t.Fatalf("label: %q, %v", out, err)
	}
	if _, _, err := runJobCLI(ctx, "models", "label", "days", "3", "canary", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "does not load") {
		t.Fatalf("label on a truncated version: %v, want a refusal", err)
	}
	if _, _, err := runJobCLI(ctx, "models", "label", "days", "9", "canary", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "no version 9") {
		t.Fatalf("label on a missing version: %v", err)
	}

	out, _, err := runJobCLI(ctx, "models", "--json", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	var list []modelListing
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("models --json: %s (%v)", out, err)
	}
	m := list[0]
	if m.Name != "days" || len(m.Versions) != 3 || m.Labels["stable"] != 2 || len(m.Labels) != 1 {
		t.Fatalf("listing %+v", m)
	}
	if m.Versions[0].Version != 3 || m.Versions[0].Error == "" || m.Versions[0].SHA256 != "" {
		t.Errorf("the truncated version is not reported broken: %+v", m.Versions[0])
	}
	if m.Versions[1].SHA256 == "" || m.Versions[1].SHA256 != m.Versions[2].SHA256 || m.Versions[1].Bytes != int64(len(b)) {
		t.Errorf("good versions: %+v %+v", m.Versions[1], m.Versions[2])
	}
	table, _, err := runJobCLI(ctx, "models", "--data-dir", data)
	if err != nil || !strings.Contains(table, "BROKEN") || !strings.Contains(table, "stable") {
		t.Errorf("table:\n%s (%v)", table, err)
	}
}
