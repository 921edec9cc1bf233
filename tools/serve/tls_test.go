package serve

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/tools/serve/servetest"
)

// handshake connects to a server with cfg and returns the client's error.
func handshake(t *testing.T, server *tls.Config, client *tls.Config) error {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		c.(*tls.Conn).Handshake()
		c.Write([]byte("x"))
		c.Close()
	}()
	conn, err := tls.Dial("tcp", lis.Addr().String(), client)
	if err != nil {
		return err
	}
	defer conn.Close()
	// TLS 1.3: the server's refusal of a client certificate comes with
	// the first read.
	_, err = conn.Read(make([]byte, 1))
	return err
}

func TestTLSConfig(t *testing.T) {
	pki := servetest.NewPKI(t, "test")
	if cfg, err := TLSConfig("", "", "", false); cfg != nil || err != nil {
		t.Errorf("no files: %v, %v", cfg, err)
	}
	if _, err := TLSConfig(pki.ServerCert, "", "", false); err == nil || !strings.Contains(err.Error(), "--tls_key") {
		t.Errorf("a certificate without its key: %v", err)
	}
	if _, err := TLSConfig("", "", pki.CA, true); err == nil || !strings.Contains(err.Error(), "--tls_cert") {
		t.Errorf("a client CA without a certificate: %v", err)
	}
	if _, err := TLSConfig(pki.ServerCert, pki.ServerKey, pki.ServerKey, true); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a client CA that is a key: %v", err)
	}

	server, err := TLSConfig(pki.ServerCert, pki.ServerKey, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, server, &tls.Config{RootCAs: pki.Pool}); err != nil {
		t.Errorf("TLS: %v", err)
	}

	mtls, err := TLSConfig(pki.ServerCert, pki.ServerKey, pki.CA, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, mtls, &tls.Config{RootCAs: pki.Pool}); err == nil {
		t.Error("mTLS admitted a client without a certificate")
	}
	other := servetest.NewPKI(t, "other")
	if err := handshake(t, mtls, &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{other.ClientCert(t, "stranger")}}); err == nil {
		t.Error("mTLS admitted a certificate of another CA")
	}
	if err := handshake(t, mtls, &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{pki.ClientCert(t, "ci")}}); err != nil {
		t.Errorf("mTLS with a client certificate: %v", err)
	}
	optional, err := TLSConfig(pki.ServerCert, pki.ServerKey, pki.CA, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, optional, &tls.Config{RootCAs: pki.Pool}); err != nil {
		t.Errorf("an optional client certificate: %v", err)
	}
}
