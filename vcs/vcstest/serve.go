package vcstest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Connections counts the connections a fake accepted, by what their first
// request asked for: real forges serve HTTPS, where each costs a TLS
// handshake (and, off loopback, round trips).
type Connections struct {
	// API counts those whose first request was to the API (/api/...).
	API int
	// Git counts the others: git over smart HTTP, and web pages.
	Git int
}

// endpoint is where a fake forge listens: plain HTTP on 127.0.0.1, or
// HTTPS with a certificate of its own (GitHubOptions.TLS).
type endpoint struct {
	ln     net.Listener
	tls    *tls.Config       // nil over plain HTTP
	url    string            // http(s)://127.0.0.1:PORT
	cert   *x509.Certificate // nil over plain HTTP
	caFile string            // cert as PEM; "" over plain HTTP

	apiConns, gitConns atomic.Int64
}

// connKey keys a connection's firstRequest in its context.
type connKey struct{}

// firstRequest classifies a connection once, by its first request.
type firstRequest struct{ once sync.Once }

// listen listens on 127.0.0.1, for HTTPS when useTLS; serve then serves
// what it accepts. The URL is known before the first request is served.
func listen(t T, forge string, useTLS bool) *endpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%s: listening: %v", forge, err)
	}
	e := &endpoint{ln: ln, url: "http://" + ln.Addr().String()}
	if useTLS {
		pair, err := e.selfSign(t.TempDir())
		if err != nil {
			ln.Close()
			t.Fatalf("%s: a TLS certificate: %v", forge, err)
		}
		e.tls = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		e.url = "https://" + ln.Addr().String()
	}
	return e
}

// serve serves h until t ends.
func (e *endpoint) serve(t T, h http.Handler) {
	srv := &http.Server{
		Handler:           e.count(h),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, _ net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, &firstRequest{})
		},
		TLSConfig: e.tls,
		// A client that does not trust the certificate is the client's
		// failure, which it reports: the fake need not.
		ErrorLog: log.New(dropHandshakeErrors{os.Stderr}, "", log.LstdFlags),
	}
	go func() { // each returns http.ErrServerClosed at cleanup
		if e.tls != nil {
			_ = srv.ServeTLS(e.ln, "", "") // offering HTTP/2 too, as the forges do
		} else {
			_ = srv.Serve(e.ln)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	})
}

// dropHandshakeErrors writes the lines of http.Server's log but those
// about failed TLS handshakes.
type dropHandshakeErrors struct{ w io.Writer }

func (d dropHandshakeErrors) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("TLS handshake error")) {
		return len(p), nil
	}
	return d.w.Write(p)
}

// count notes, on each connection's first request, what it is for.
func (e *endpoint) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(*firstRequest); ok {
			c.once.Do(func() {
				if strings.HasPrefix(r.URL.Path, "/api/") {
					e.apiConns.Add(1)
				} else {
					e.gitConns.Add(1)
				}
			})
		}
		next.ServeHTTP(w, r)
	})
}

// selfSign makes a self-signed ECDSA P-256 certificate for 127.0.0.1 and
// localhost, as most public forges serve, writes it as PEM under dir
// and returns it with its key.
func (e *endpoint) selfSign(dir string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"atoll vcstest"}, CommonName: "127.0.0.1"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // its own root, for clients to trust
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if e.cert, err = x509.ParseCertificate(der); err != nil {
		return tls.Certificate{}, err
	}
	e.caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(e.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: e.cert}, nil
}

// Certificate is the certificate the fake serves HTTPS with, its own
// root: trust it as a CA. Nil over plain HTTP.
func (e *endpoint) Certificate() *x509.Certificate { return e.cert }

// CAFile is the path of Certificate as PEM, for what reads a CA bundle
// from a file: git's GIT_SSL_CAINFO, Go's SSL_CERT_FILE. "" over plain
// HTTP.
func (e *endpoint) CAFile() string { return e.caFile }

// Client returns a new HTTP client that trusts the fake: over HTTPS, a
// clone of http.DefaultTransport whose roots are Certificate alone.
func (e *endpoint) Client() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if e.cert != nil {
		pool := x509.NewCertPool()
		pool.AddCert(e.cert)
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// Connections counts the connections accepted so far, by what their
// first request asked for.
func (e *endpoint) Connections() Connections {
	return Connections{API: int(e.apiConns.Load()), Git: int(e.gitConns.Load())}
}
