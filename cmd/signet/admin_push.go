package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

var pushColumns = []column{{"PROVIDER", "provider"}, {"SETTINGS", "settings"}, {"UPDATED", "updated_at"}, {"VERSION", "version"}}

// maxSecretFile bounds the key files the push commands read (a .p8 key is about 250
// bytes, a service account key file about 2.5 KiB).
const maxSecretFile = 64 << 10

// readSecretFile reads a key file the user names; problems with it are usage errors.
func readSecretFile(flag, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErr(fmt.Errorf("--%s: %w", flag, err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	switch {
	case err != nil:
		return nil, usageErr(fmt.Errorf("--%s: %w", flag, err))
	case len(data) > maxSecretFile:
		return nil, usageErr(fmt.Errorf("--%s: %s is larger than %d KiB", flag, path, maxSecretFile>>10))
	case len(strings.TrimSpace(string(data))) == 0:
		return nil, usageErr(fmt.Errorf("--%s: %s is empty", flag, path))
	}
	return data, nil
}

// requireFlags refuses a command whose required flags were not given.
func requireFlags(c *cobra.Command, names ...string) error {
	var missing []string
	for _, n := range names {
		if !c.Flags().Changed(n) {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return usageErr(fmt.Errorf("missing required flags: %s", strings.Join(missing, ", ")))
	}
	return nil
}

// showPushCredential prints a credential, its settings a line each in a table.
func showPushCredential(p printer) func(json.RawMessage, error) error {
	return func(raw json.RawMessage, err error) error {
		if err != nil {
			return err
		}
		return p.objectExpanded(raw, "settings", nil)
	}
}

// newAdminPushCmd: the realms' push credentials, and test wake-ups.
func newAdminPushCmd(e *env, f *adminFlags) *cobra.Command {
	var realm string
	list := &cobra.Command{Use: "list", Short: "List a realm's push credentials (their settings, never their secrets)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				return listed(p, pushColumns)(ac.listAll(ctx, base+"/push", nil, 0))
			})
		}}
	get := &cobra.Command{Use: "get PROVIDER", Short: "Show a realm's credential for apns, fcm or unifiedpush", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				return showPushCredential(p)(ac.call(ctx, "GET", base+"/push/"+esc(args[0]), nil))
			})
		}}

	var keyFile, keyID, teamID, topic, environment string
	var port int
	setAPNs := &cobra.Command{Use: "set-apns", Short: "Set a realm's APNs credential: a .p8 token signing key", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "key-file", "key-id", "team-id", "topic", "environment"); err != nil {
				return err
			}
			key, err := readSecretFile("key-file", keyFile)
			if err != nil {
				return err
			}
			body := map[string]any{"key": string(key), "key_id": keyID, "team_id": teamID, "topic": topic, "environment": environment}
			if c.Flags().Changed("port") {
				body["port"] = port
			}
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				return showPushCredential(p)(ac.call(ctx, "PUT", base+"/push/apns", body))
			})
		}}
	setAPNs.Flags().StringVar(&keyFile, "key-file", "", "the .p8 key file from Apple (required)")
	setAPNs.Flags().StringVar(&keyID, "key-id", "", "the key's id, 10 characters (required)")
	setAPNs.Flags().StringVar(&teamID, "team-id", "", "the Apple developer team id, 10 characters (required)")
	setAPNs.Flags().StringVar(&topic, "topic", "", "the app's bundle id (required)")
	setAPNs.Flags().StringVar(&environment, "environment", "", "production or sandbox (required)")
	setAPNs.Flags().IntVar(&port, "port", 443, "443, or Apple's alternative port 2197")

	var accountFile, projectID string
	setFCM := &cobra.Command{Use: "set-fcm", Short: "Set a realm's FCM credential: a service account's JSON key file", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "service-account"); err != nil {
				return err
			}
			file, err := readSecretFile("service-account", accountFile)
			if err != nil {
				return err
			}
			body := map[string]any{"service_account": string(file)}
			if projectID != "" {
				body["project_id"] = projectID
			}
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				return showPushCredential(p)(ac.call(ctx, "PUT", base+"/push/fcm", body))
			})
		}}
	setFCM.Flags().StringVar(&accountFile, "service-account", "", "the service account's JSON key file (required)")
	setFCM.Flags().StringVar(&projectID, "project-id", "", "the Firebase project (default: the key file's project_id)")

	var subject, vapidFile string
	setUnifiedPush := &cobra.Command{Use: "set-unifiedpush", Short: "Set a realm's UnifiedPush (WebPush) VAPID identity; without --vapid-key-file a new key pair is made",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := requireFlags(c, "subject"); err != nil {
				return err
			}
			body := map[string]any{"subject": subject}
			if vapidFile != "" {
				key, err := readSecretFile("vapid-key-file", vapidFile)
				if err != nil {
					return err
				}
				body["vapid_private_key"] = strings.TrimSpace(string(key))
			}
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				path := base + "/push/unifiedpush"
				previous, err := ac.call(ctx, "GET", path, nil)
				var notFound *apiError
				if err != nil && !(errors.As(err, &notFound) && notFound.Status == 404) {
					return err
				}
				raw, err := ac.call(ctx, "PUT", path, body)
				if err != nil {
					return err
				}
				if previous != nil && applicationServerKey(previous) != applicationServerKey(raw) {
					fmt.Fprintln(e.stderr, "The VAPID key pair changed: apps subscribed with the previous application_server_key must subscribe again.")
				}
				return showPushCredential(p)(raw, nil)
			})
		}}
	setUnifiedPush.Flags().StringVar(&subject, "subject", "", "contact for push services: mailto:... or https://... (required)")
	setUnifiedPush.Flags().StringVar(&vapidFile, "vapid-key-file", "", "file holding the VAPID private key (the raw P-256 scalar, base64url); default: make a new key pair")

	del := &cobra.Command{Use: "delete PROVIDER", Short: "Delete a realm's credential for apns, fcm or unifiedpush", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				return done(e.stdout, "deleted the "+args[0]+" push credential of realm "+realm)(ac.call(ctx, "DELETE", base+"/push/"+esc(args[0]), nil))
			})
		}}
	test := &cobra.Command{Use: "test DEVICE", Short: "Send a test wake-up to a device now; exits 1 unless the provider accepted it", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				raw, err := ac.call(ctx, "POST", base+"/devices/"+esc(args[0])+"/test-push", nil)
				if err != nil {
					return err
				}
				if err := p.object(raw); err != nil {
					return err
				}
				var st struct {
					Route string `json:"route"`
					Error string `json:"error"`
				}
				if err := json.Unmarshal(raw, &st); err != nil {
					return err
				}
				if st.Route != "push" {
					msg := "the test push was not sent: " + st.Route
					if st.Error != "" {
						msg += ": " + st.Error
					}
					return errors.New(msg)
				}
				return nil
			})
		}}
	return realmFlag(adminGroup("push", "Set the realms' push credentials (APNs, FCM, UnifiedPush) and send test wake-ups",
		list, get, setAPNs, setFCM, setUnifiedPush, del, test), &realm)
}

// applicationServerKey reads the VAPID public key out of a unifiedpush credential.
func applicationServerKey(raw json.RawMessage) string {
	var c struct {
		Settings struct {
			Key string `json:"application_server_key"`
		} `json:"settings"`
	}
	_ = json.Unmarshal(raw, &c)
	return c.Settings.Key
}
