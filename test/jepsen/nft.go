package jepsen

import (
	"fmt"
	"net/netip"
	"strings"
)

// nftTable is the nftables table the suite owns inside each node namespace.
const nftTable = "ltj"

// netFaults is the network state the nemesis wants: a partition grudge and lossy links. The
// rules of every node are rendered from it as a whole, so partitions and loss compose.
type netFaults struct {
	Partition   grudge // nil: no partition
	Loss        []link
	LossPercent int
}

// nodeRules returns the rules of node i's input chain: drop every packet from the nodes it holds a
// grudge against, and drop LossPercent of the packets from the other end of each lossy link. The
// client address (the root namespace) is never dropped.
func (f netFaults) nodeRules(i int, addrs []netip.Addr) []string {
	var rules []string
	if i < len(f.Partition) && len(f.Partition[i]) > 0 {
		ips := make([]string, len(f.Partition[i]))
		for j, d := range f.Partition[i] {
			ips[j] = addrs[d].String()
		}
		rules = append(rules, fmt.Sprintf("ip saddr { %s } drop", strings.Join(ips, ", ")))
	}
	for _, l := range f.Loss {
		peer := -1
		switch i {
		case l.A:
			peer = l.B
		case l.B:
			peer = l.A
		}
		switch {
		case peer < 0:
		case f.LossPercent >= 100: // nft's range is 0-99: total loss is a plain drop
			rules = append(rules, fmt.Sprintf("ip saddr %s drop", addrs[peer]))
		default:
			rules = append(rules, fmt.Sprintf("ip saddr %s numgen random mod 100 < %d drop", addrs[peer], f.LossPercent))
		}
	}
	return rules
}

// nftScript renders an nft -f script that atomically replaces the suite's table with one holding
// rules (or only removes it when rules is empty). Creating the table before deleting it makes the
// script valid whether or not the table exists.
func nftScript(rules []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\n", nftTable, nftTable)
	if len(rules) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "table inet %s {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n", nftTable)
	for _, r := range rules {
		fmt.Fprintf(&b, "\t\t%s\n", r)
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}
