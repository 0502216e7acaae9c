package main

// Many endpoints from one process (-endpoints N): the same inventory served on N
// loopback ports, as N identical standalone hosts would answer. Fleet-scale tests
// (hundreds of endpoints) need this: one simulator process per endpoint would cost
// hundreds of Go runtimes and models. Each port has its own listener and HTTP
// server (its own connections, TLS handshakes and -delay), and sessions are per
// login as on separate hosts; only the inventory behind them is shared, which
// a client listing or counting per endpoint cannot tell apart from N hosts.

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/vmware/govmomi/simulator"
)

type extraEndpoint struct {
	url    string
	server *http.Server
}

func serveExtraEndpoints(main *simulator.Server, n int) ([]extraEndpoint, error) {
	if n < 0 {
		return nil, fmt.Errorf("needs at least 1 endpoint")
	}
	host, _, err := net.SplitHostPort(main.URL.Host)
	if err != nil {
		return nil, err
	}
	var out []extraEndpoint
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			for _, e := range out {
				_ = e.server.Close()
			}
			return nil, err
		}
		srv := &http.Server{Handler: main.Config.Handler}
		u := url.URL{Scheme: main.URL.Scheme, Host: l.Addr().String(), Path: main.URL.Path}
		if main.TLS != nil {
			go func() { _ = srv.Serve(tls.NewListener(l, main.TLS)) }()
		} else {
			go func() { _ = srv.Serve(l) }()
		}
		out = append(out, extraEndpoint{url: u.String(), server: srv})
	}
	return out, nil
}
