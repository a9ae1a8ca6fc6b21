package faults_test

import (
	"strings"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// proxyServer is the package's one in-process toxiproxy server (its Listen
// exits the process on a bind failure: start proxies once).
var proxyServer *toxiproxy.ApiServer

// newProxy starts a TCP proxy on a free loopback port in front of upstream.
func newProxy(t testing.TB, name, upstream string) *toxiproxy.Proxy {
	t.Helper()
	if proxyServer == nil {
		proxyServer = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
		proxyServer.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	}
	p := toxiproxy.NewProxy(proxyServer, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// addToxic adds a toxic from its JSON description and returns its remover.
func addToxic(t testing.TB, p *toxiproxy.Proxy, json string) func() {
	t.Helper()
	w, err := p.Toxics.AddToxicJson(strings.NewReader(json))
	if err != nil {
		t.Fatal(err)
	}
	return func() { _ = p.Toxics.RemoveToxic(t.Context(), w.Name) }
}
