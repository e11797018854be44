// Package bench is the load tool behind `lattice bench`: it drives a Lattice cluster, any
// Dapr-compatible state API or etcd's v3 HTTP gateway with one workload, open- or closed-loop, and
// reports throughput, HDR latency percentiles, errors by kind and, for Lattice, replication lags.
//
// The command wires it in a few lines:
//
//	opts := bench.DefaultOptions() // then bind each field to the flag named in its doc comment
//	res, err := bench.Run(ctx, opts)  // progress lines go to opts.Progress
//	if res != nil { res.WriteTable(os.Stdout) } // or res.WriteJSON(os.Stdout) for --json
//	if plotPath != "" { res.WritePlot(plotPath) } // --plot FILE.png
package bench
