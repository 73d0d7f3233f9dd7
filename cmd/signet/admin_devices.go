package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-auth/signet/internal/device"
)

var (
	activationColumns = []column{{"ID", "id"}, {"CREATED", "created_at"}, {"EXPIRES", "expires_at"}, {"REDEEMED", "redeemed_at"}, {"DEVICE", "device_id"}}
	deviceColumns     = []column{{"ID", "id"}, {"USER", "user_id"}, {"NAME", "display_name"}, {"PLATFORM", "platform"}, {"STATE", "state"}, {"LAST SEEN", "last_seen_at"}}
	auditColumns      = []column{{"AT", "at"}, {"ACTION", "action"}, {"ACTOR", "actor"}, {"USER", "user_id"}, {"DEVICE", "device_id"}}
)

// newAdminActivationCmd: one-time activation codes that enroll a user's device.
func newAdminActivationCmd(e *env, f *adminFlags) *cobra.Command {
	var realm, user, pngFile string
	var ttl time.Duration
	create := &cobra.Command{Use: "create", Short: "Create an activation code for a user and show it as a QR code", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if user == "" {
				return usageErr(errors.New("--user is required"))
			}
			return f.withUser(e, c, realm, user, func(ctx context.Context, ac *adminClient, p printer, path string) error {
				body := map[string]any{}
				if ttl != 0 {
					body["ttl_seconds"] = int64(ttl / time.Second)
				}
				raw, err := ac.call(ctx, "POST", path+"/activations", body)
				if err != nil {
					return err
				}
				var a struct {
					Code      string    `json:"code"`
					URL       string    `json:"url"`
					PNG       string    `json:"qr_png"`
					ExpiresAt time.Time `json:"expires_at"`
				}
				if err := json.Unmarshal(raw, &a); err != nil {
					return err
				}
				if pngFile != "" {
					png, err := base64.StdEncoding.DecodeString(a.PNG)
					if err != nil {
						return fmt.Errorf("the QR PNG: %w", err)
					}
					if err := os.WriteFile(pngFile, png, 0o600); err != nil {
						return err
					}
				}
				if p.json {
					return p.object(raw)
				}
				qr, err := device.QRText(a.URL)
				if err != nil {
					return err
				}
				fmt.Fprint(e.stdout, qr)
				fmt.Fprintf(e.stdout, "\nScan with the authenticator app, or enroll with:\n  signet authenticator enroll '%s'\n", a.URL)
				fmt.Fprintf(e.stdout, "code %s, single use, valid until %s\n", a.Code, a.ExpiresAt.Local().Format(time.DateTime))
				if pngFile != "" {
					fmt.Fprintf(e.stdout, "QR code written to %s\n", pngFile)
				}
				return nil
			})
		}}
	create.Flags().StringVarP(&user, "user", "u", "", "username or user id (required)")
	create.Flags().DurationVar(&ttl, "ttl", 0, "how long the code is valid (1m to 24h; default 15m)")
	create.Flags().StringVar(&pngFile, "png", "", "also write the QR code as a PNG to this file")
	list := &cobra.Command{Use: "list USER", Short: "List a user's activation codes (without the codes)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return f.withUser(e, c, realm, args[0], func(ctx context.Context, ac *adminClient, p printer, path string) error {
				return listed(p, activationColumns)(ac.listAll(ctx, path+"/activations", nil, 0))
			})
		}}
	del := &cobra.Command{Use: "delete ID", Short: "Withdraw an activation code", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				return done(e.stdout, "withdrew activation "+args[0])(ac.call(ctx, "DELETE", base+"/activations/"+esc(args[0]), nil))
			})
		}}
	return realmFlag(adminGroup("activation", "Create one-time activation codes that enroll devices", create, list, del), &realm)
}

// newAdminDeviceCmd: the device registry.
func newAdminDeviceCmd(e *env, f *adminFlags) *cobra.Command {
	var realm, user, state string
	var force bool
	list := &cobra.Command{Use: "list", Short: "List enrolled devices (of one user with --user)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				q, err := userQuery(ctx, ac, realm, user)
				if err != nil {
					return err
				}
				if state != "" {
					q.Set("state", state)
				}
				return listed(p, deviceColumns)(ac.listAll(ctx, base+"/devices", q, 0))
			})
		}}
	list.Flags().StringVarP(&user, "user", "u", "", "only this user's devices (username or id)")
	list.Flags().StringVar(&state, "state", "", "only devices in this state: active, locked or revoked")
	get := &cobra.Command{Use: "get ID", Short: "Show a device", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				return show(p)(ac.call(ctx, "GET", base+"/devices/"+esc(args[0]), nil))
			})
		}}
	patch := func(use, short string, body func(args []string) map[string]any, withForce bool) *cobra.Command {
		nargs := 1
		if use == "rename ID NAME" {
			nargs = 2
		}
		c := &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(nargs),
			RunE: func(c *cobra.Command, args []string) error {
				return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
					path := base + "/devices/" + esc(args[0])
					if force {
						path += "?force=true"
					}
					return show(p)(ac.call(ctx, "PATCH", path, body(args)))
				})
			}}
		if withForce {
			c.Flags().BoolVar(&force, "force", false, "go ahead even if it is the user's last active device")
		}
		return c
	}
	rename := patch("rename ID NAME", "Rename a device", func(a []string) map[string]any { return map[string]any{"display_name": a[1]} }, false)
	lock := patch("lock ID", "Lock a device: it can no longer connect or answer until unlocked", func([]string) map[string]any { return map[string]any{"state": "locked"} }, true)
	unlock := patch("unlock ID", "Unlock a locked device", func([]string) map[string]any { return map[string]any{"state": "active"} }, false)
	revoke := patch("revoke ID", "Revoke a device for good (it stays listed)", func([]string) map[string]any { return map[string]any{"state": "revoked"} }, true)
	remove := &cobra.Command{Use: "remove ID", Short: "Remove a device", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				path := base + "/devices/" + esc(args[0])
				if force {
					path += "?force=true"
				}
				return done(e.stdout, "removed device "+args[0])(ac.call(ctx, "DELETE", path, nil))
			})
		}}
	remove.Flags().BoolVar(&force, "force", false, "remove even the user's last active device")
	audit := &cobra.Command{Use: "audit", Short: "Show the device audit log, newest first", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				q, err := userQuery(ctx, ac, realm, user)
				if err != nil {
					return err
				}
				return listed(p, auditColumns)(ac.listAll(ctx, base+"/audit", q, 0))
			})
		}}
	audit.Flags().StringVarP(&user, "user", "u", "", "only events about this user (username or id)")
	return realmFlag(adminGroup("device", "List, rename, lock, unlock, revoke and remove enrolled devices", list, get, rename, lock, unlock, revoke, remove, audit), &realm)
}

// inRealm checks --realm and runs fn with the realm's base path.
func (f *adminFlags) inRealm(e *env, c *cobra.Command, realm string, fn func(ctx context.Context, ac *adminClient, p printer, base string) error) error {
	if err := needRealm(realm); err != nil {
		return err
	}
	return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
		return fn(ctx, ac, p, "/realms/"+esc(realm))
	})
}

// userQuery is ?user= with the id of user (a username or id), or nothing when user is empty.
func userQuery(ctx context.Context, ac *adminClient, realm, user string) (url.Values, error) {
	q := url.Values{}
	if user != "" {
		id, err := resolveUser(ctx, ac, realm, user)
		if err != nil {
			return nil, err
		}
		q.Set("user", id)
	}
	return q, nil
}

func newAdminReceiptCmd(e *env, f *adminFlags) *cobra.Command {
	var realm, save string
	get := &cobra.Command{Use: "get ID", Short: "Show the receipt of an answered transaction (the request's id)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return f.inRealm(e, c, realm, func(ctx context.Context, ac *adminClient, p printer, base string) error {
				raw, err := ac.call(ctx, "GET", base+"/receipts/"+esc(args[0]), nil)
				if err == nil && save != "" {
					var r struct {
						Receipt string `json:"receipt"`
					}
					if err = json.Unmarshal(raw, &r); err == nil {
						err = os.WriteFile(save, []byte(r.Receipt+"\n"), 0o644)
					}
				}
				return show(p)(raw, err)
			})
		}}
	get.Flags().StringVar(&save, "save", "", "also write the receipt (the JWS) to this file, for `signet receipt verify`")
	return realmFlag(adminGroup("receipt", "Receipts of answered transactions", get), &realm)
}
