package main

import (
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestEveryCommandHasAnExample walks the command tree: every command a user
// can run shows an example in its help, and no flag's usage holds a
// back-quoted word, which pflag would take for the flag's value name
// ("--lr shoal testnet" instead of "--lr float").
func TestEveryCommandHasAnExample(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q has no example", c.CommandPath())
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if strings.Contains(f.Usage, "`") {
				t.Errorf("%s --%s: back-quote in usage %q", c.CommandPath(), f.Name, f.Usage)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
}

func TestJobSubmitHelpShowsValueTypes(t *testing.T) {
	out, _, err := runJobCLI(context.Background(), "job", "submit", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--lr float", "--epochs int", "Examples:", "shoal job submit --model mlp"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}
