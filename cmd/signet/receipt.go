package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/signet-auth/signet/internal/receipt"
)

// maxReceiptInput bounds what `receipt verify` reads: a receipt, or a JWKS.
const maxReceiptInput = 1 << 20

func newReceiptCmd(e *env) *cobra.Command {
	var jwks, caFile string
	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a transaction receipt offline: the realm's signature, the device's signature, and that they say the same",
		Long: "Checks a receipt (the compact JWS, or the admin API's JSON holding it; FILE - reads standard input)\n" +
			"against the realm's JWKS, from a file or from {issuer}/protocol/openid-connect/certs. Exits 0 when\n" +
			"the receipt holds, 1 when it does not.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if jwks == "" {
				return usageErr(errors.New("--jwks is required: a JWKS file, or the realm's certs URL"))
			}
			token, err := readReceipt(e, args[0])
			if err != nil {
				return err
			}
			set, err := loadJWKS(c.Context(), jwks, caFile)
			if err != nil {
				return err
			}
			claims, err := receipt.Verify(token, set)
			if err != nil {
				return fmt.Errorf("receipt invalid: %w", err)
			}
			return printReceipt(e.stdout, claims)
		},
	}
	verify.Flags().StringVar(&jwks, "jwks", "", "the realm's JWKS: a file, or an https URL such as {issuer}/protocol/openid-connect/certs")
	verify.Flags().StringVar(&caFile, "ca", "", "PEM file of a CA to trust when --jwks is a URL (e.g. the dev CA)")
	c := &cobra.Command{Use: "receipt", Short: "Transaction receipts",
		RunE: func(*cobra.Command, []string) error {
			return usageErr(errors.New("receipt needs a subcommand: verify"))
		}}
	c.AddCommand(verify)
	return c
}

// readReceipt reads a receipt file: the JWS alone, or JSON with a "receipt" field.
func readReceipt(e *env, name string) (string, error) {
	var r io.Reader
	if name == "-" {
		r = e.input()
	} else {
		f, err := os.Open(name)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxReceiptInput+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxReceiptInput {
		return "", fmt.Errorf("%s: larger than %d bytes", name, maxReceiptInput)
	}
	text := strings.TrimSpace(string(b))
	if strings.HasPrefix(text, "{") {
		var held struct {
			Receipt string `json:"receipt"`
		}
		if err := json.Unmarshal([]byte(text), &held); err != nil || held.Receipt == "" {
			return "", fmt.Errorf("%s: JSON without a receipt", name)
		}
		text = held.Receipt
	}
	return text, nil
}

// loadJWKS reads a JWKS from a file or fetches it over https.
func loadJWKS(ctx context.Context, where, caFile string) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	var b []byte
	if strings.HasPrefix(where, "https://") {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return set, err
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return set, fmt.Errorf("%s: no certificate", caFile)
			}
		}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
		if err != nil {
			return set, usageErr(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return set, fmt.Errorf("fetch the JWKS: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return set, fmt.Errorf("fetch the JWKS: %s answered %s", where, resp.Status)
		}
		if b, err = io.ReadAll(io.LimitReader(resp.Body, maxReceiptInput)); err != nil {
			return set, err
		}
	} else {
		var err error
		if b, err = os.ReadFile(where); err != nil {
			return set, err
		}
	}
	if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) == 0 {
		return set, fmt.Errorf("%s holds no JWKS", where)
	}
	return set, nil
}

func printReceipt(w io.Writer, c receipt.Claims) error {
	rows := [][2]string{
		{"receipt", "valid: the realm's and the device's signatures hold and agree"},
		{"request", c.ID}, {"issuer", c.Issuer}, {"realm", c.Realm}, {"user", c.Subject}, {"client", c.ClientID},
		{"outcome", c.Outcome}, {"decision", c.Decision}, {"text", c.Text},
		{"authorization_details", string(c.AuthorizationDetails)}, {"number", c.Number},
		{"device", c.DeviceID}, {"signed_at", time.Unix(c.SignedAt, 0).UTC().Format(time.RFC3339)},
	}
	for _, r := range rows {
		if r[1] == "" {
			continue
		}
		if _, err := fmt.Fprintf(w, "%-22s %s\n", r[0], r[1]); err != nil {
			return err
		}
	}
	return nil
}
