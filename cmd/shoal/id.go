package main

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/mesh"
)

func init() { subcommands = append(subcommands, newIDCmd) }

// idOutput is the --json form of `shoal id`; fields may be added, never removed.
type idOutput struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

func newIDCmd() *cobra.Command {
	var dataDir string
	var listen []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "id",
		Short: "Print this machine's peer id and the addresses `shoal up` would listen on",
		Long: "Prints the peer id (from the identity in the data dir, created on first use) and the full\n" +
			"multiaddrs (/ip4/…/tcp/…/p2p/<id>) for the given --listen addresses, the same defaults as\n" +
			"`shoal up`. Another machine passes one of them to `shoal up --bootstrap`.",
		Example: "  shoal id\n  shoal id --listen /ip4/0.0.0.0/tcp/4001 --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := resolveDataDir(dataDir, true)
			if err != nil {
				return err
			}
			sk, _, err := mesh.LoadOrCreateIdentity(dir)
			if err != nil {
				return err
			}
			id, err := peer.IDFromPrivateKey(sk)
			if err != nil {
				return err
			}
			if len(listen) == 0 {
				listen = defaultUpListen
			}
			out := idOutput{ID: id.String(), Addrs: []string{}}
			p2p, err := ma.NewComponent("p2p", id.String())
			if err != nil {
				return err
			}
			for _, s := range listen {
				a, err := ma.NewMultiaddr(s)
				if err != nil {
					return fmt.Errorf("--listen %q: %v", s, err)
				}
				out.Addrs = append(out.Addrs, a.Encapsulate(p2p.Multiaddr()).String())
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSONLine(w, out)
			}
			fmt.Fprintln(w, out.ID)
			for _, a := range out.Addrs {
				fmt.Fprintln(w, a)
			}
			return nil
		},
	}
	f := cmd.Flags()
	addDataDirFlag(f, &dataDir)
	f.StringArrayVar(&listen, "listen", nil, "listen multiaddr to print (repeatable; default: those of shoal up)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object: {\"id\", \"addrs\"}")
	return cmd
}
