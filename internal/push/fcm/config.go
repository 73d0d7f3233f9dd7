package fcm

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// DefaultBaseURL is where the FCM HTTP v1 API lives.
const DefaultBaseURL = "https://fcm.googleapis.com"

// Config is what a Sender needs: one Firebase project's service account.
type Config struct {
	// ServiceAccountJSON is the service account's JSON key file, as the Firebase console
	// ("Project settings › Service accounts › Generate new private key") downloads it.
	// Its type, project_id, private_key_id, private_key (RSA, PEM), client_email and
	// token_uri are used. It is a secret: String and GoString never print it.
	ServiceAccountJSON []byte
	// ProjectID overrides the key file's project_id: the project messages are sent
	// through, when the service account belongs to another project.
	ProjectID string
	// BaseURL overrides DefaultBaseURL, for tests.
	BaseURL string
}

// String describes c without its key.
func (c Config) String() string {
	return fmt.Sprintf("fcm.Config{ProjectID:%q BaseURL:%q ServiceAccountJSON:[%d bytes, redacted]}",
		c.ProjectID, c.BaseURL, len(c.ServiceAccountJSON))
}

// GoString is String, so %#v does not print the key either.
func (c Config) GoString() string { return c.String() }

// Validate reports every problem with c at once, joined with errors.Join.
func (c Config) Validate() error {
	_, err := c.resolve()
	return err
}

// serviceAccount is the part of a service account key file a Sender uses.
type serviceAccount struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// settings is a validated Config.
type settings struct {
	account serviceAccount
	project string
	sendURL string
}

// Project IDs are lower-case letters, digits and hyphens, with an optional
// "domain.example:" prefix for domain-scoped projects.
var projectID = regexp.MustCompile(`^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,62}[a-z0-9]$`)

func (c Config) resolve() (settings, error) {
	var errs []error
	problem := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("fcm: "+format, args...))
	}

	var sa serviceAccount
	parsed := false
	switch {
	case len(c.ServiceAccountJSON) == 0:
		problem("no service account JSON")
	default:
		if err := json.Unmarshal(c.ServiceAccountJSON, &sa); err != nil {
			problem("service account JSON: %s", describeJSONError(err))
			break
		}
		parsed = true
		if sa.Type != "service_account" {
			problem("service account JSON: type is %.40q, want \"service_account\"", sa.Type)
		}
		switch {
		case sa.ClientEmail == "":
			problem("service account JSON: client_email is missing")
		case !strings.Contains(sa.ClientEmail, "@"):
			problem("service account JSON: client_email %.80q is not an email address", sa.ClientEmail)
		}
		if sa.PrivateKeyID == "" {
			problem("service account JSON: private_key_id is missing")
		}
		if err := checkPrivateKey(sa.PrivateKey); err != nil {
			problem("service account JSON: private_key %v", err)
		}
		if sa.TokenURI == "" {
			problem("service account JSON: token_uri is missing")
		} else if err := checkHTTPS(sa.TokenURI); err != nil {
			problem("service account JSON: token_uri %v", err)
		}
	}

	project := c.ProjectID
	if project == "" {
		project = sa.ProjectID
	}
	switch {
	case project == "" && parsed:
		problem("no project: the service account JSON has no project_id and ProjectID is empty")
	case project != "" && !projectID.MatchString(project):
		problem("project ID %.80q is not a Google Cloud project ID", project)
	}

	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	if err := checkHTTPS(base); err != nil {
		problem("BaseURL %v", err)
	}
	if len(errs) > 0 {
		return settings{}, errors.Join(errs...)
	}
	return settings{
		account: sa,
		project: project,
		sendURL: strings.TrimSuffix(base, "/") + "/v1/projects/" + url.PathEscape(project) + "/messages:send",
	}, nil
}

// describeJSONError says what is wrong with a key file without quoting it: a syntax
// error inside private_key would otherwise echo part of the key.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON (syntax error at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q is a JSON %s, want a %s", typ.Field, typ.Value, typ.Type)
	}
	return "not valid JSON"
}

// checkPrivateKey checks that key is an RSA private key in PEM, PKCS #8 (as Google
// issues) or PKCS #1, of at least 2048 bits. Errors never quote the key.
func checkPrivateKey(key string) error {
	if key == "" {
		return errors.New("is missing")
	}
	block, _ := pem.Decode([]byte(key))
	if block == nil {
		return errors.New("is not PEM")
	}
	var parsed any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return fmt.Errorf("is a PEM %.40q block, want \"PRIVATE KEY\"", block.Type)
	}
	if err != nil {
		return errors.New("does not parse as a private key")
	}
	rsaKey, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return fmt.Errorf("is a %T, want RSA (RS256 signs the token request)", parsed)
	}
	if rsaKey.N.BitLen() < 2048 {
		return fmt.Errorf("is %d bits, want at least 2048", rsaKey.N.BitLen())
	}
	return nil
}

// checkHTTPS checks that raw is an absolute https URL with a host and nothing that does
// not belong in a service endpoint (credentials, query, fragment).
func checkHTTPS(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("is not a URL")
	}
	shown := u.Redacted()
	switch {
	case u.Scheme != "https":
		return fmt.Errorf("%.120q is not an https URL", shown)
	case u.Host == "":
		return fmt.Errorf("%.120q has no host", shown)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%.120q has credentials, a query or a fragment", shown)
	}
	return nil
}
