package fcm_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/signet-auth/signet/internal/push/fcm"
	"github.com/signet-auth/signet/internal/push/fcm/fcmtest"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := fcmtest.NewServiceAccountKey(t, "signet-prod", "https://oauth2.googleapis.com/token")
	keyLine := strings.Split(good.PrivateKey, "\n")[1] // never to appear in an error

	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	smallKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallDER, _ := x509.MarshalPKCS8PrivateKey(smallKey)
	pemOf := func(der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	with := func(change func(*fcmtest.ServiceAccountKey)) []byte {
		k := good
		change(&k)
		return k.JSON()
	}

	tests := []struct {
		name string
		cfg  fcm.Config
		want []string // every problem, each a substring of the error; none: valid
	}{
		{"valid", fcm.Config{ServiceAccountJSON: good.JSON()}, nil},
		{"valid with overrides", fcm.Config{ServiceAccountJSON: good.JSON(), ProjectID: "example.com:signet-push", BaseURL: "https://fcm.example.net/"}, nil},
		{"PKCS #1 key", fcm.Config{ServiceAccountJSON: with(func(k *fcmtest.ServiceAccountKey) {
			block, _ := pem.Decode([]byte(good.PrivateKey))
			parsed, _ := x509.ParsePKCS8PrivateKey(block.Bytes)
			k.PrivateKey = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(parsed.(*rsa.PrivateKey))}))
		})}, nil},
		{"empty", fcm.Config{}, []string{"no service account JSON"}},
		{"not JSON", fcm.Config{ServiceAccountJSON: []byte(`{"private_key": "` + keyLine + `` + "\n" + `"}`)},
			[]string{"not valid JSON (syntax error at byte"}},
		{"wrong JSON type", fcm.Config{ServiceAccountJSON: []byte(`{"type": "service_account", "project_id": 7}`)},
			[]string{`field "project_id" is a JSON number`}},
		{"user credentials, not a service account", fcm.Config{ServiceAccountJSON: with(func(k *fcmtest.ServiceAccountKey) { k.Type = "authorized_user" })},
			[]string{`type is "authorized_user"`}},
		{"EC key", fcm.Config{ServiceAccountJSON: with(func(k *fcmtest.ServiceAccountKey) { k.PrivateKey = pemOf(ecDER) })},
			[]string{"private_key is a *ecdsa.PrivateKey, want RSA"}},
		{"short RSA key", fcm.Config{ServiceAccountJSON: with(func(k *fcmtest.ServiceAccountKey) { k.PrivateKey = pemOf(smallDER) })},
			[]string{"private_key is 1024 bits"}},
		{"corrupt key", fcm.Config{ServiceAccountJSON: with(func(k *fcmtest.ServiceAccountKey) {
			k.PrivateKey = strings.Replace(good.PrivateKey, keyLine, strings.Repeat("A", len(keyLine)), 1)
		})}, []string{"private_key does not parse"}},
		{"plain http token_uri", fcm.Config{ServiceAccountJSON: with(func(k *fcmtest.ServiceAccountKey) { k.TokenURI = "http://oauth2.googleapis.com/token" })},
			[]string{"token_uri \"http://oauth2.googleapis.com/token\" is not an https URL"}},
		{"bad project override", fcm.Config{ServiceAccountJSON: good.JSON(), ProjectID: "../../admin"},
			[]string{"project ID \"../../admin\" is not a Google Cloud project ID"}},
		{"base URL with credentials", fcm.Config{ServiceAccountJSON: good.JSON(), BaseURL: "https://user:hunter2@fcm.example.net"},
			[]string{"BaseURL \"https://user:xxxxx@fcm.example.net\" has credentials"}},
		{"everything wrong at once", fcm.Config{
			ServiceAccountJSON: []byte(`{"type": "authorized_user", "private_key": "-----BEGIN NONSENSE", "token_uri": "ftp://x/token"}`),
			BaseURL:            "http://fcm.googleapis.com",
		}, []string{
			`type is "authorized_user"`,
			"client_email is missing",
			"private_key_id is missing",
			"private_key is not PEM",
			`token_uri "ftp://x/token" is not an https URL`,
			"no project",
			`BaseURL "http://fcm.googleapis.com" is not an https URL`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := fcm.New(tt.cfg); err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if n := len(strings.Split(msg, "\n")); n != len(tt.want) {
				t.Errorf("error has %d lines, want %d:\n%s", n, len(tt.want), msg)
			}
			if strings.Contains(msg, keyLine) || strings.Contains(msg, "hunter2") {
				t.Errorf("error quotes a secret:\n%s", msg)
			}
			if _, err := fcm.New(tt.cfg); err == nil || err.Error() != msg {
				t.Errorf("New = %v, want the Validate error", err)
			}
		})
	}
}
