package fcmtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strconv"
	"testing"
)

// ServiceAccountKey is a service account's JSON key file, field for field as the Firebase
// console ("Project settings › Service accounts › Generate new private key") and Google
// Cloud IAM download it.
type ServiceAccountKey struct {
	Type                    string `json:"type"`
	ProjectID               string `json:"project_id"`
	PrivateKeyID            string `json:"private_key_id"`
	PrivateKey              string `json:"private_key"`
	ClientEmail             string `json:"client_email"`
	ClientID                string `json:"client_id"`
	AuthURI                 string `json:"auth_uri"`
	TokenURI                string `json:"token_uri"`
	AuthProviderX509CertURL string `json:"auth_provider_x509_cert_url"`
	ClientX509CertURL       string `json:"client_x509_cert_url"`
	UniverseDomain          string `json:"universe_domain"`
}

// JSON encodes the key file.
func (k ServiceAccountKey) JSON() []byte {
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return b
}

// account is a service account the token endpoint knows.
type account struct {
	keyID   string
	pub     *rsa.PublicKey
	project string
}

// NewServiceAccountKey returns a key file for a new service account of projectID, with a
// fresh 2048-bit RSA key in PKCS #8 PEM (as Google issues them) and tokenURL as its
// token_uri. No token endpoint knows it: use Server.ServiceAccountKey for one the fake
// trusts.
func NewServiceAccountKey(t testing.TB, projectID, tokenURL string) ServiceAccountKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generate service account key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("encode service account key: %v", err)
	}
	id := make([]byte, 20)
	rand.Read(id)
	name := "signet-push-" + hex.EncodeToString(id[:4])
	email := fmt.Sprintf("%s@%s.iam.gserviceaccount.com", name, projectID)
	return ServiceAccountKey{
		Type:                    "service_account",
		ProjectID:               projectID,
		PrivateKeyID:            hex.EncodeToString(id),
		PrivateKey:              string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		ClientEmail:             email,
		ClientID:                strconv.FormatUint(binary.BigEndian.Uint64(id[4:12])>>1, 10),
		AuthURI:                 "https://accounts.google.com/o/oauth2/auth",
		TokenURI:                tokenURL,
		AuthProviderX509CertURL: "https://www.googleapis.com/oauth2/v1/certs",
		ClientX509CertURL:       "https://www.googleapis.com/robot/v1/metadata/x509/" + email,
		UniverseDomain:          "googleapis.com",
	}
}

// ServiceAccountKey returns the key file of a new service account of the fake's project,
// whose key the token endpoint trusts and whose token_uri is TokenURL. Each call makes a
// new account with a new key.
func (s *Server) ServiceAccountKey(t testing.TB) ServiceAccountKey {
	t.Helper()
	k := NewServiceAccountKey(t, s.ProjectID, s.TokenURL)
	s.Trust(t, k)
	return k
}

// ServiceAccount is ServiceAccountKey encoded as JSON: what a sender is configured with.
func (s *Server) ServiceAccount(t testing.TB) []byte {
	t.Helper()
	return s.ServiceAccountKey(t).JSON()
}

// Trust makes the token endpoint accept assertions signed with k's private key and
// issued by k's client_email, for the fake's project. The key file may come from
// NewServiceAccountKey with fields changed.
func (s *Server) Trust(t testing.TB, k ServiceAccountKey) {
	t.Helper()
	block, _ := pem.Decode([]byte(k.PrivateKey))
	if block == nil {
		t.Fatal("fcmtest: service account private_key is not PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("fcmtest: service account private_key: %v", err)
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("fcmtest: service account private_key is a %T, want RSA", key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[k.ClientEmail] = &account{keyID: k.PrivateKeyID, pub: &rsaKey.PublicKey, project: s.ProjectID}
}
