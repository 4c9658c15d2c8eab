package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Cert is a fresh certificate and key (ECDSA P-256), valid from an hour ago for
// a day: either self-signed (NewCert: its own CA, for 127.0.0.1, ::1 and
// localhost) or issued by a test CA (CA.Issue). This file is the one
// certificate generator of the test suites (Dovecot's and Mailpit's TLS,
// in-process IMAP and SMTP servers).
type Cert struct {
	TLS     tls.Certificate // for a server's tls.Config: the leaf and the intermediates above it
	Pool    *x509.CertPool  // trusts the root the certificate chains to (itself when self-signed)
	CertPEM []byte          // what a server presents: the leaf, then the intermediates
	KeyPEM  []byte
	CAPEM   []byte // the root to trust (a client's ca_file); CertPEM when self-signed
}

// CA is a certificate authority of the tests: a root (NewRootCA) or an
// intermediate (CA.Intermediate) that issues server certificates (CA.Issue).
type CA struct {
	Cert *x509.Certificate
	PEM  []byte // Cert alone

	key   *ecdsa.PrivateKey
	chain [][]byte // DER of this CA and the intermediates above it (not the root)
	root  *CA
}

// issued is one generated certificate with its key.
type issued struct {
	der  []byte
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// issue generates a key and a certificate from tmpl, signed by parent (nil:
// self-signed). tmpl gets its serial number and validity here.
func issue(tmpl *x509.Certificate, parent *CA) (*issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(24*time.Hour)
	tmpl.BasicConstraintsValid = true
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.Cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return nil, fmt.Errorf("create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return &issued{der: der, cert: cert, key: key}, nil
}

func certPEM(der ...[]byte) []byte {
	var out []byte
	for _, d := range der {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	return out
}

// serverCert assembles a Cert from a leaf, the intermediates above it (DER,
// nearest first) and the root to trust.
func serverCert(leaf *issued, intermediates [][]byte, root *x509.Certificate, rootPEM []byte) (*Cert, error) {
	keyDER, err := x509.MarshalECPrivateKey(leaf.key)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	chain := append([][]byte{leaf.der}, intermediates...)
	c := &Cert{
		TLS:     tls.Certificate{Certificate: chain, PrivateKey: leaf.key, Leaf: leaf.cert},
		Pool:    x509.NewCertPool(),
		CertPEM: certPEM(chain...),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		CAPEM:   rootPEM,
	}
	c.Pool.AddCert(root)
	return c, nil
}

var loopbackIPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}

// NewCert generates a self-signed certificate (its own CA) whose subject
// names name, for 127.0.0.1, ::1 and localhost.
func NewCert(name string) (*Cert, error) {
	c, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"supportd tests"}},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:        true,
		DNSNames:    []string{"localhost"},
		IPAddresses: loopbackIPs,
	}, nil)
	if err != nil {
		return nil, err
	}
	return serverCert(c, nil, c.cert, certPEM(c.der))
}

// SelfSigned is NewCert for a test: a failure fails t.
func SelfSigned(t testing.TB, name string) *Cert {
	t.Helper()
	c, err := NewCert(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// NewRootCA generates a self-signed root certificate authority.
func NewRootCA(name string) (*CA, error) {
	return newCA(name, nil)
}

// Intermediate generates an intermediate authority signed by ca.
func (ca *CA) Intermediate(name string) (*CA, error) {
	return newCA(name, ca)
}

func newCA(name string, parent *CA) (*CA, error) {
	c, err := issue(&x509.Certificate{
		Subject:  pkix.Name{CommonName: name, Organization: []string{"supportd tests"}},
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		IsCA:     true,
	}, parent)
	if err != nil {
		return nil, err
	}
	ca := &CA{Cert: c.cert, PEM: certPEM(c.der), key: c.key}
	if parent == nil {
		ca.root = ca
		return ca, nil
	}
	ca.root = parent.root
	ca.chain = append([][]byte{c.der}, parent.chain...)
	return ca, nil
}

// Issue generates a server certificate signed by ca for the DNS names and IP
// addresses in names. The Cert presents it with ca and the intermediates
// above ca; its Pool and CAPEM hold the root only.
func (ca *CA) Issue(names ...string) (*Cert, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: names[0], Organization: []string{"supportd tests"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	c, err := issue(tmpl, ca)
	if err != nil {
		return nil, err
	}
	return serverCert(c, ca.chain, ca.root.Cert, ca.root.PEM)
}

// PKI is the certificate set of the TLS acceptance tests: a root, an
// intermediate signed by it, and server certificates presented with the
// intermediate. A client trusting Root alone verifies Leaf.
type PKI struct {
	Root, Intermediate *CA
	// Leaf: by Intermediate, for 127.0.0.1, SSLRequiredHost, ::1 and localhost.
	Leaf *Cert
	// WrongName: by Intermediate, for mail.vendor.test only — a server
	// reached as 127.0.0.1 presenting it fails the host name check.
	WrongName *Cert
	// WrongCA: by an unrelated root and intermediate, for the right names.
	WrongCA *Cert
}

// WrongNameHost is the only name WrongName certifies.
const WrongNameHost = "mail.vendor.test"

// NewPKI generates a PKI; a failure fails t.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	p, err := newPKI()
	if err != nil {
		t.Fatalf("testenv: pki: %v", err)
	}
	return p
}

func newPKI() (*PKI, error) {
	var p PKI
	var err error
	if p.Root, err = NewRootCA("supportd tests root CA"); err != nil {
		return nil, err
	}
	if p.Intermediate, err = p.Root.Intermediate("supportd tests intermediate CA"); err != nil {
		return nil, err
	}
	if p.Leaf, err = p.Intermediate.Issue("127.0.0.1", SSLRequiredHost, "::1", "localhost"); err != nil {
		return nil, err
	}
	if p.WrongName, err = p.Intermediate.Issue(WrongNameHost); err != nil {
		return nil, err
	}
	other, err := NewRootCA("unrelated root CA")
	if err != nil {
		return nil, err
	}
	otherInt, err := other.Intermediate("unrelated intermediate CA")
	if err != nil {
		return nil, err
	}
	if p.WrongCA, err = otherInt.Issue("127.0.0.1", SSLRequiredHost, "::1", "localhost"); err != nil {
		return nil, err
	}
	return &p, nil
}

// WriteCAFile writes the root this certificate chains to (CAPEM) into dir
// and returns its path, for a client's ca_file; a failure fails t.
func (c *Cert) WriteCAFile(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, c.CAPEM, 0o644); err != nil {
		t.Fatalf("testenv: write %s: %v", p, err)
	}
	return p
}

// ServerConfig is a server TLS configuration presenting the certificate.
func (c *Cert) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.TLS}}
}

// writeKeyPair writes CertPEM and KeyPEM to dir/<base>.pem and dir/<base>.key
// for a server process and returns the two paths.
func (c *Cert) writeKeyPair(dir, base string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, base+".pem"), filepath.Join(dir, base+".key")
	if err := os.WriteFile(certFile, c.CertPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("write cert: %w", err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("write key: %w", err)
	}
	return certFile, keyFile, nil
}
