// Command benchtable reads `go test -bench` output of internal/bench on
// stdin (echoing it to stderr) and prints one table: path, ns/op, allocs,
// speed-up over the raw sqlc call of the same group and over the
// go-redis/cache variant of the same tier, the stale-read count of the
// mixed workloads, and the miss budget (miss - raw vs one Redis round trip).
// With -count > 1 the median of each column is used.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var line = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+(.*)$`)

type row struct {
	path    string
	metrics map[string][]float64
}

func main() {
	var order []string
	rows := map[string]*row{}
	sc := bufio.NewScanner(io.TeeReader(os.Stdin, os.Stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		path := strings.TrimPrefix(m[1], "DataLayer/")
		r := rows[path]
		if r == nil {
			r = &row{path: path, metrics: map[string][]float64{}}
			rows[path] = r
			order = append(order, path)
		}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				r.metrics[f[i+1]] = append(r.metrics[f[i+1]], v)
			}
		}
	}
	get := func(path, metric string) (float64, bool) {
		r := rows[path]
		if r == nil || len(r.metrics[metric]) == 0 {
			return 0, false
		}
		v := slices.Clone(r.metrics[metric])
		slices.Sort(v)
		return v[len(v)/2], true
	}
	fmt.Printf("\n%-46s %14s %8s %10s %12s %7s\n", "path", "ns/op", "allocs", "x raw", "x go-redis", "stale")
	for _, p := range order {
		group, variant := p, ""
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			group, variant = p[:i], p[i+1:]
		}
		ns, _ := get(p, "ns/op")
		allocs, _ := get(p, "allocs/op")
		xraw, xgo, stale := "", "", ""
		if ops, ok := get(p, "ops/s"); ok { // mixed: throughput
			if rawOps, ok := get(group+"/raw", "ops/s"); ok && rawOps > 0 {
				xraw = fmt.Sprintf("%.2fx", ops/rawOps)
			}
			if s, ok := get(p, "stale-reads"); ok {
				stale = fmt.Sprintf("%.0f", s)
			}
		} else if rawNs, ok := get(group+"/raw", "ns/op"); ok && ns > 0 {
			xraw = fmt.Sprintf("%.2fx", rawNs/ns)
		}
		if peer := "goredis-" + variant; !strings.HasPrefix(variant, "goredis-") {
			if peerNs, ok := get(group+"/"+peer, "ns/op"); ok && ns > 0 {
				xgo = fmt.Sprintf("%.2fx", peerNs/ns)
			}
		}
		fmt.Printf("%-46s %14.0f %8.0f %10s %12s %7s\n", p, ns, allocs, xraw, xgo, stale)
	}
	raw, ok1 := get("GetAgent/raw", "ns/op")
	miss, ok2 := get("GetAgent/repo-miss", "ns/op")
	rtt, ok3 := get("GetAgent/redis-rtt", "ns/op")
	if ok1 && ok2 && ok3 {
		fmt.Printf("\nGetAgent miss budget: raw %.1f µs, miss %.1f µs, miss - raw %.1f µs, one Redis round trip %.1f µs (%.1f round trips)\n",
			raw/1e3, miss/1e3, (miss-raw)/1e3, rtt/1e3, (miss-raw)/rtt)
	}
	fmt.Println("x raw: speed-up over the raw sqlc call (throughput ratio for Mixed); x go-redis: over go-redis/cache's variant of the same tier")
}
