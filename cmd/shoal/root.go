package main

import (
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// newRootCmd builds the command tree. Each subcommand lives in its own file
// and registers itself through a constructor listed here, so files for
// different nouns never touch each other.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "shoal",
		Short: "A private compute mesh for machine learning",
		Long:  "shoal turns a handful of ordinary machines into a private mesh that trains, serves and queries models together.",
		Example: "  shoal key new -o swarm.key\n  shoal up --key swarm.key\n  shoal peers\n" +
			"  shoal job submit --model mlp --data \"$(make -s mnist)\" --epochs 3\n  shoal testnet --peers 4 --model mlp --data \"$(make -s mnist)\"",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true, // main prints the error once, on stderr
	}
	for _, sub := range subcommands {
		root.AddCommand(sub())
	}
	return root
}

// subcommands is appended to by each command file's init function.
var subcommands []func() *cobra.Command
