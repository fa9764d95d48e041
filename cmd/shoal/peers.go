package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalmesh/shoal/serve/controlapi"
)

func init() { subcommands = append(subcommands, newPeersCmd) }

func newPeersCmd() *cobra.Command {
	var a apiFlags
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List the peers a running node sees",
		Long: "peers asks a running node (`shoal up`) through its local control API which peers it sees.\n" +
			"The API token is read from the node's data dir, so use the same --data-dir (or SHOAL_DATA_DIR) as the node.\n" +
			"With --json it prints a JSON array whose fields are only ever added to.",
		Example: "  shoal peers\n  shoal peers --json --api 127.0.0.1:7071 --data-dir ./node-b",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			peers, err := c.Peers(cmd.Context())
			if err != nil {
				return err
			}
			sortPeers(peers)
			if a.asJSON {
				return writePeersJSON(cmd.OutOrStdout(), peers)
			}
			if len(peers) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "no peers yet")
			}
			return writePeersTable(cmd.OutOrStdout(), peers, time.Now())
		},
	}
	a.register(cmd, "print a JSON array instead of a table")
	return cmd
}

// sortPeers orders by name, then id, so the output is stable between runs.
func sortPeers(ps []controlapi.Peer) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Name != ps[j].Name {
			return ps[i].Name < ps[j].Name
		}
		return ps[i].ID < ps[j].ID
	})
}

func writePeersJSON(w io.Writer, ps []controlapi.Peer) error {
	if ps == nil {
		ps = []controlapi.Peer{} // "[]", never "null"
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(ps)
}

func writePeersTable(w io.Writer, ps []controlapi.Peer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tRTT\tLAST SEEN\tCORES\tMEM\tSERVING")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
			shortID(p.ID), orDash(p.Name), orDash(p.Role), fmtRTT(p.RTT), fmtAgo(p.LastSeen, now), p.Cores, fmtBytes(p.MemBytes), fmtServed(p.Served))
	}
	return tw.Flush()
}

// fmtServed lists served models as name@newest, with "int8" and the queue
// when they are worth saying: "digits@3 spam@1(int8,q=4)".
func fmtServed(ss []controlapi.ServedModel) string {
	if len(ss) == 0 {
		return "-"
	}
	parts := make([]string, len(ss))
	for i, s := range ss {
		v := s.Name
		if len(s.Versions) > 0 {
			v += "@" + strconv.Itoa(s.Versions[0])
		}
		var notes []string
		if s.Int8 {
			notes = append(notes, "int8")
		}
		if s.Queue > 0 {
			notes = append(notes, "q="+strconv.Itoa(s.Queue))
		}
		if len(notes) > 0 {
			v += "(" + strings.Join(notes, ",") + ")"
		}
		parts[i] = v
	}
	return strings.Join(parts, " ")
}

// shortID abbreviates a peer id the way libp2p's ShortString does: the first
// two and the last six characters ("12*abcdef"). Every id starts with the
// same "12D3KooW", so the tail is what tells peers apart.
func shortID(id string) string {
	if len(id) <= 9 {
		return orDash(id)
	}
	return id[:2] + "*" + id[len(id)-6:]
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func fmtRTT(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	default:
		return d.Round(10 * time.Millisecond).String()
	}
}

func fmtAgo(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	default:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	}
}

func fmtBytes(n uint64) string {
	if n == 0 {
		return "-"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, exp := float64(n), 0
	for v >= unit && exp < 5 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[exp-1])
}
