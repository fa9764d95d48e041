package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/mesh"
)

func init() { subcommands = append(subcommands, newKeyCmd) }

func newKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "key",
		Short:   "Manage the mesh key (the pre-shared key every peer of a mesh holds)",
		Example: "  shoal key new -o swarm.key",
	}
	cmd.AddCommand(newKeyNewCmd())
	return cmd
}

func newKeyNewCmd() *cobra.Command {
	var out, dataDir string
	var force bool
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Write a new mesh key (swarm.key v1) and print its path",
		Long: "Writes a fresh 256-bit pre-shared key in the IPFS swarm.key v1 format (mode 0600).\n" +
			"Every machine of a mesh needs the same key file: copy it over a channel you trust.\n" +
			"Without -o the key goes to <data-dir>/swarm.key, where `shoal up` looks for it.",
		Example: "  shoal key new\n  shoal key new -o swarm.key   # then copy swarm.key to the other machines",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := out
			if path == "" {
				dir, err := resolveDataDir(dataDir, true)
				if err != nil {
					return err
				}
				path = filepath.Join(dir, mesh.KeyFileName)
			}
			if err := mesh.WriteNewKey(path, force); err != nil {
				return err
			}
			abs, err := filepath.Abs(path)
			if err != nil {
				abs = path
			}
			psk, err := mesh.ReadKey(path)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), abs)
			fmt.Fprintf(cmd.ErrOrStderr(), "mesh %s; keep this file secret: whoever has it can join the mesh\n", mesh.MeshIDOf(psk))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "key file to write (default <data-dir>/swarm.key)")
	f.BoolVar(&force, "force", false, "replace an existing key file (peers holding the old key are cut off)")
	addDataDirFlag(f, &dataDir)
	return cmd
}
