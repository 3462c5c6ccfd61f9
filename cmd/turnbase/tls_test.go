package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "turnbase test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile
}

func TestServesHTTPSAndWSS(t *testing.T) {
	certFile, keyFile := selfSigned(t)
	addr := freeAddr(t)
	vars := map[string]string{
		"DATABASE_URL":       testDatabase(t),
		"TURNBASE_DATA":      t.TempDir(),
		"TURNBASE_TLS_CERT":  certFile,
		"TURNBASE_TLS_KEY":   keyFile,
		"TURNBASE_LOG_LEVEL": "warn",
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-addr", addr, "-ops-addr="}, func(k string) string { return vars[k] }, out)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	tlsCfg := &tls.Config{InsecureSkipVerify: true} // our own self-signed certificate
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.TLS == nil {
				t.Fatal("no TLS")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Plain HTTP is not served on the TLS port.
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the TLS port")
		}
		resp.Body.Close()
	}

	resp, err := client.Post("https://"+addr+"/api/auth/guest", "application/json", strings.NewReader(`{"name":"tls_user"}`))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("guest over HTTPS: %v %v", resp, err)
	}
	resp.Body.Close()

	dialer := websocket.Dialer{TLSClientConfig: tlsCfg}
	// A browser on https://addr sends that origin: it must be accepted.
	hdr := http.Header{"Origin": {"https://" + addr}}
	ws, _, err := dialer.Dial("wss://"+addr+"/ws", hdr)
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	defer ws.Close()
	ws.WriteJSON(map[string]any{"type": "hello", "v": 1})
	var welcome map[string]any
	if err := ws.ReadJSON(&welcome); err != nil || welcome["type"] != "welcome" {
		t.Fatalf("welcome over wss: %v %v", welcome, err)
	}
}
