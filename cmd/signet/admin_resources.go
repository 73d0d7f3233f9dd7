package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// run connects and runs fn; errors from the API or the network exit with 1.
func (f *adminFlags) run(e *env, c *cobra.Command, fn func(ctx context.Context, ac *adminClient, p printer) error) error {
	p, err := f.printer(e)
	if err != nil {
		return err
	}
	ac, err := f.connect(c.Context(), e)
	if err != nil {
		return err
	}
	if err := fn(c.Context(), ac, p); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return &exitError{code: exitFailure, err: err}
	}
	return nil
}

// adminGroup is a command that only holds subcommands.
func adminGroup(use, short string, subs ...*cobra.Command) *cobra.Command {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.Name()
	}
	c := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usageErr(fmt.Errorf("%s needs a subcommand: %s", use, strings.Join(names, ", ")))
		}}
	c.AddCommand(subs...)
	return c
}

// realmFlag adds the --realm flag a group's commands share.
func realmFlag(c *cobra.Command, realm *string) *cobra.Command {
	c.PersistentFlags().StringVarP(realm, "realm", "r", "", "realm (required)")
	return c
}

func needRealm(realm string) error {
	if realm == "" {
		return usageErr(errors.New("--realm is required"))
	}
	return nil
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }

// show prints the answer of a call that returns one resource.
func show(p printer) func(json.RawMessage, error) error {
	return func(raw json.RawMessage, err error) error {
		if err != nil {
			return err
		}
		return p.object(raw)
	}
}

// listed prints the answer of a listing as a table of cols.
func listed(p printer, cols []column) func([]json.RawMessage, error) error {
	return func(items []json.RawMessage, err error) error {
		if err != nil {
			return err
		}
		return p.list(items, cols)
	}
}

// done reports a call without an answer body.
func done(w io.Writer, msg string) func(json.RawMessage, error) error {
	return func(_ json.RawMessage, err error) error {
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, msg)
		return err
	}
}

// changed copies the flags the user gave into body under their API field names.
type changed struct {
	c    *cobra.Command
	body map[string]any
}

func changes(c *cobra.Command) changed { return changed{c: c, body: map[string]any{}} }

func (ch changed) set(flag, field string, v any) {
	if ch.c.Flags().Changed(flag) {
		ch.body[field] = v
	}
}

var realmColumns = []column{{"NAME", "name"}, {"DISPLAY NAME", "display_name"}, {"ENABLED", "enabled"}, {"CREATED", "created_at"}}

// realmDurations maps the realm settings that are durations (whole seconds in the API)
// to their flags, which take Go durations.
var realmDurations = map[string]string{
	"sso_idle_timeout": "sso-idle-timeout", "sso_max_lifespan": "sso-max-lifespan", "lockout_duration": "lockout-duration",
	"denial_window": "denial-window", "cooldown": "cooldown",
}

// realmSettingsFlags adds the flags of the realm settings to realm create and update.
func realmSettingsFlags(c *cobra.Command) {
	c.Flags().Duration("sso-idle-timeout", 0, "SSO session idle timeout, e.g. 30m (at least 1m, at most the max lifespan)")
	c.Flags().Duration("sso-max-lifespan", 0, "SSO session absolute timeout, e.g. 10h (1m to 8760h)")
	c.Flags().Int("lockout-threshold", 0, "failed passwords or codes in a row that lock a user (1 to 1000)")
	c.Flags().Duration("lockout-duration", 0, "how long a lock lasts, e.g. 5m (1s to 24h)")
	c.Flags().String("registration", "", "dynamic client registration: off, token (needs the realm's registration token) or open")
	c.Flags().Int("device-max-per-user", 0, "most devices a user may have that are not revoked (1 to 100)")
	c.Flags().StringSlice("login-first-factors", nil, "how the login pages offer to sign in: password, phone, or both (comma-separated)")
	c.Flags().StringSlice("login-second-factors", nil, "second factors asked after a password when the user has them: totp, phone, or both")
	c.Flags().String("device-not-me", "", `what a "this wasn't me" denial does: lock_device, lock_user or report`)
	c.Flags().String("number-matching", "", "phone sign-ins from the login pages: pick (the user picks the number the page shows) or off (approve or deny only, open to push fatigue)")
	c.Flags().Int("max-pending-per-user", 0, "phone requests one user may have waiting at once (1 to 20)")
	c.Flags().Int("denials-before-cooldown", 0, "denials of a user's phone requests within the denial window that start a cooldown (1 to 100)")
	c.Flags().Duration("denial-window", 0, "the window denials count in, e.g. 10m (1m to 24h)")
	c.Flags().Duration("cooldown", 0, "how long no phone request is made for a user after too many denials, e.g. 2m (1s to 24h)")
}

// addRealmSettings puts the settings given on the command line into body; the API keeps
// the others.
func addRealmSettings(c *cobra.Command, body map[string]any) error {
	ch := changes(c)
	for field, flag := range realmDurations {
		d, _ := c.Flags().GetDuration(flag)
		if d%time.Second != 0 {
			return usageErr(fmt.Errorf("--%s must be whole seconds, not %s", flag, d))
		}
		ch.set(flag, field, int64(d/time.Second))
	}
	threshold, _ := c.Flags().GetInt("lockout-threshold")
	ch.set("lockout-threshold", "lockout_threshold", threshold)
	registration, _ := c.Flags().GetString("registration")
	ch.set("registration", "registration", registration)
	maxDevices, _ := c.Flags().GetInt("device-max-per-user")
	ch.set("device-max-per-user", "device_max_per_user", maxDevices)
	factors, _ := c.Flags().GetStringSlice("login-first-factors")
	ch.set("login-first-factors", "login_first_factors", factors)
	second, _ := c.Flags().GetStringSlice("login-second-factors")
	ch.set("login-second-factors", "login_second_factors", second)
	notMe, _ := c.Flags().GetString("device-not-me")
	ch.set("device-not-me", "device_not_me", notMe)
	matching, _ := c.Flags().GetString("number-matching")
	ch.set("number-matching", "number_matching", matching)
	pending, _ := c.Flags().GetInt("max-pending-per-user")
	ch.set("max-pending-per-user", "max_pending_per_user", pending)
	denials, _ := c.Flags().GetInt("denials-before-cooldown")
	ch.set("denials-before-cooldown", "denials_before_cooldown", denials)
	if len(ch.body) > 0 {
		body["settings"] = ch.body
	}
	return nil
}

// showRealm prints a realm; a table shows each setting on a line of its own, durations
// as Go durations, as the flags take them.
func showRealm(p printer) func(json.RawMessage, error) error {
	return func(raw json.RawMessage, err error) error {
		if err != nil {
			return err
		}
		return p.objectExpanded(raw, "settings", func(name string, v json.RawMessage) string {
			var secs int64
			if _, ok := realmDurations[name]; ok && json.Unmarshal(v, &secs) == nil {
				return (time.Duration(secs) * time.Second).String()
			}
			return cell(v)
		})
	}
}

func newAdminRealmCmd(e *env, f *adminFlags) *cobra.Command {
	var display string
	var disabled, enabled bool
	create := &cobra.Command{Use: "create NAME", Short: "Create a realm", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			body := map[string]any{"name": args[0], "display_name": display, "enabled": !disabled}
			if err := addRealmSettings(c, body); err != nil {
				return err
			}
			return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
				return showRealm(p)(ac.call(ctx, "POST", "/realms", body))
			})
		}}
	create.Flags().StringVar(&display, "display-name", "", "name shown to users")
	create.Flags().BoolVar(&disabled, "disabled", false, "create the realm disabled")
	realmSettingsFlags(create)
	var limit int
	list := &cobra.Command{Use: "list", Short: "List realms", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
				return listed(p, realmColumns)(ac.listAll(ctx, "/realms", nil, limit))
			})
		}}
	list.Flags().IntVar(&limit, "limit", 0, "list at most this many (0: all)")
	get := &cobra.Command{Use: "get NAME", Short: "Show a realm", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
				return showRealm(p)(ac.call(ctx, "GET", "/realms/"+esc(args[0]), nil))
			})
		}}
	update := &cobra.Command{Use: "update NAME", Short: "Change a realm: display name, enabled, settings", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ch := changes(c)
			ch.set("display-name", "display_name", display)
			ch.set("enabled", "enabled", enabled)
			if err := addRealmSettings(c, ch.body); err != nil {
				return err
			}
			return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
				return showRealm(p)(ac.call(ctx, "PATCH", "/realms/"+esc(args[0]), ch.body))
			})
		}}
	update.Flags().StringVar(&display, "display-name", "", "name shown to users")
	update.Flags().BoolVar(&enabled, "enabled", true, "enable (true) or disable (false) the realm")
	realmSettingsFlags(update)
	regToken := &cobra.Command{Use: "registration-token NAME", Short: "Make a new initial access token for dynamic client registration and print it (once)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
				raw, err := ac.call(ctx, "POST", "/realms/"+esc(args[0])+"/registration-token", nil)
				if err != nil {
					return err
				}
				if p.json {
					err = p.indent(raw)
				} else {
					var tok struct {
						Token string `json:"initial_access_token"`
					}
					if err := json.Unmarshal(raw, &tok); err != nil {
						return err
					}
					_, err = fmt.Fprintln(e.stdout, tok.Token)
				}
				fmt.Fprintf(e.stderr, "The token is shown only now: Signet keeps only its hash, and any earlier token no longer works.\n"+
					"Clients register with it while the realm's registration policy is token (signet admin realm update %s --registration token).\n", args[0])
				return err
			})
		}}
	del := &cobra.Command{Use: "delete NAME", Short: "Delete a realm and everything in it", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
				return done(e.stdout, "deleted realm "+args[0])(ac.call(ctx, "DELETE", "/realms/"+esc(args[0]), nil))
			})
		}}
	return adminGroup("realm", "Manage realms", create, list, get, update, del, regToken)
}

var userColumns = []column{{"ID", "id"}, {"USERNAME", "username"}, {"EMAIL", "email"}, {"ENABLED", "enabled"}, {"LOCKED", "locked"}}

// resolveUser turns a username (or, failing that, a user ID) into the user's ID.
func resolveUser(ctx context.Context, ac *adminClient, realm, user string) (string, error) {
	raw, err := ac.call(ctx, "GET", "/realms/"+esc(realm)+"/users?"+url.Values{"username": {user}}.Encode(), nil)
	if err != nil {
		return "", err
	}
	var p struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", err
	}
	if len(p.Items) == 1 {
		return p.Items[0].ID, nil
	}
	return user, nil
}

// withUser checks --realm, resolves USER (a username or an ID) and runs fn with the
// user's path in the API.
func (f *adminFlags) withUser(e *env, c *cobra.Command, realm, user string, fn func(ctx context.Context, ac *adminClient, p printer, path string) error) error {
	if err := needRealm(realm); err != nil {
		return err
	}
	return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
		id, err := resolveUser(ctx, ac, realm, user)
		if err != nil {
			return err
		}
		return fn(ctx, ac, p, "/realms/"+esc(realm)+"/users/"+esc(id))
	})
}

// readPassword reads a password from the first line of file ("-": standard input).
func readPassword(file string) (string, error) {
	r := io.Reader(os.Stdin)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return "", usageErr(fmt.Errorf("password file: %w", err))
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usageErr(errors.New("the password file is empty"))
	}
	return pw, nil
}

// generatePassword returns 144 random bits, base64url: 24 characters.
func generatePassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// userFlags are the profile flags of user create and update.
type userFlags struct {
	email, name, givenName, familyName, username, passwordFile string
	emailVerified, enabled, disabled, temporary, unlock, gen   bool
}

// profile applies the name flags to profile (nil: an empty one).
func (u *userFlags) profile(c *cobra.Command, profile map[string]any) map[string]any {
	if profile == nil {
		profile = map[string]any{}
	}
	for flag, field := range map[string]string{"name": "name", "first-name": "given_name", "last-name": "family_name"} {
		if c.Flags().Changed(flag) {
			v, _ := c.Flags().GetString(flag)
			profile[field] = v
		}
	}
	return profile
}

func (u *userFlags) profileChanged(c *cobra.Command) bool {
	return c.Flags().Changed("name") || c.Flags().Changed("first-name") || c.Flags().Changed("last-name")
}

func (u *userFlags) registerProfile(c *cobra.Command) {
	c.Flags().StringVar(&u.email, "email", "", "email address")
	c.Flags().BoolVar(&u.emailVerified, "email-verified", false, "mark the email address as verified")
	c.Flags().StringVar(&u.name, "name", "", "full name")
	c.Flags().StringVar(&u.givenName, "first-name", "", "given name")
	c.Flags().StringVar(&u.familyName, "last-name", "", "family name")
}

func newAdminUserCmd(e *env, f *adminFlags) *cobra.Command {
	var realm string
	base := func() string { return "/realms/" + esc(realm) + "/users" }
	var uf userFlags
	create := &cobra.Command{Use: "create USERNAME", Short: "Create a user", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := needRealm(realm); err != nil {
				return err
			}
			body := map[string]any{"username": args[0], "email": uf.email, "email_verified": uf.emailVerified,
				"enabled": !uf.disabled, "profile": uf.profile(c, nil)}
			if uf.passwordFile != "" {
				pw, err := readPassword(uf.passwordFile)
				if err != nil {
					return err
				}
				body["password"], body["password_temporary"] = pw, uf.temporary
			}
			return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
				return show(p)(ac.call(ctx, "POST", base(), body))
			})
		}}
	uf.registerProfile(create)
	create.Flags().BoolVar(&uf.disabled, "disabled", false, "create the user disabled")
	create.Flags().StringVar(&uf.passwordFile, "password-file", "", "read an initial password from the first line of this file (- for standard input)")
	create.Flags().BoolVar(&uf.temporary, "temporary", false, "the user must change the initial password at the next sign-in")

	var search string
	var limit int
	list := &cobra.Command{Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := needRealm(realm); err != nil {
				return err
			}
			return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
				q := url.Values{}
				if search != "" {
					q.Set("search", search)
				}
				return listed(p, userColumns)(ac.listAll(ctx, base(), q, limit))
			})
		}}
	list.Flags().StringVar(&search, "search", "", "only users whose username or email starts with this")
	list.Flags().IntVar(&limit, "limit", 0, "list at most this many (0: all)")

	withUser := func(c *cobra.Command, user string, fn func(ctx context.Context, ac *adminClient, p printer, path string) error) error {
		return f.withUser(e, c, realm, user, fn)
	}
	get := &cobra.Command{Use: "get USER", Short: "Show a user (by username or ID)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withUser(c, args[0], func(ctx context.Context, ac *adminClient, p printer, path string) error {
				return show(p)(ac.call(ctx, "GET", path, nil))
			})
		}}
	var upd userFlags
	update := &cobra.Command{Use: "update USER", Short: "Change a user: enable, disable, unlock, rename, profile", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ch := changes(c)
			ch.set("username", "username", upd.username)
			ch.set("email", "email", upd.email)
			ch.set("email-verified", "email_verified", upd.emailVerified)
			ch.set("enabled", "enabled", upd.enabled)
			if upd.unlock {
				ch.body["locked"] = false
			}
			return withUser(c, args[0], func(ctx context.Context, ac *adminClient, p printer, path string) error {
				if upd.profileChanged(c) {
					// The API replaces the profile as a whole: change the fields given.
					raw, err := ac.call(ctx, "GET", path, nil)
					if err != nil {
						return err
					}
					var cur struct {
						Profile map[string]any `json:"profile"`
					}
					if err := json.Unmarshal(raw, &cur); err != nil {
						return err
					}
					ch.body["profile"] = upd.profile(c, cur.Profile)
				}
				return show(p)(ac.call(ctx, "PATCH", path, ch.body))
			})
		}}
	upd.registerProfile(update)
	update.Flags().StringVar(&upd.username, "username", "", "new username")
	update.Flags().BoolVar(&upd.enabled, "enabled", true, "enable (true) or disable (false: ends every session and token)")
	update.Flags().BoolVar(&upd.unlock, "unlock", false, "lift a lock set by failed sign-ins")
	del := &cobra.Command{Use: "delete USER", Short: "Delete a user", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withUser(c, args[0], func(ctx context.Context, ac *adminClient, p printer, path string) error {
				return done(e.stdout, "deleted user "+args[0])(ac.call(ctx, "DELETE", path, nil))
			})
		}}
	var pf userFlags
	setPassword := &cobra.Command{Use: "set-password USER", Short: "Set a user's password (ends their sessions and tokens)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var pw string
			switch {
			case pf.gen && pf.passwordFile != "":
				return usageErr(errors.New("give --password-file or --generate, not both"))
			case pf.gen:
				pw = generatePassword()
			default:
				var err error
				if pw, err = readPassword(first(pf.passwordFile, "-")); err != nil {
					return err
				}
			}
			return withUser(c, args[0], func(ctx context.Context, ac *adminClient, p printer, path string) error {
				if _, err := ac.call(ctx, "PUT", path+"/password", map[string]any{"password": pw, "temporary": pf.temporary}); err != nil {
					return err
				}
				if !pf.gen {
					_, err := fmt.Fprintln(e.stdout, "password set for "+args[0])
					return err
				}
				if p.json {
					data, _ := json.Marshal(map[string]string{"user": args[0], "password": pw})
					return p.indent(data)
				}
				_, err := fmt.Fprintf(e.stdout, "password set for %s: %s\n", args[0], pw)
				return err
			})
		}}
	setPassword.Flags().StringVar(&pf.passwordFile, "password-file", "", "read the password from the first line of this file (default: standard input)")
	setPassword.Flags().BoolVar(&pf.gen, "generate", false, "generate a random password and print it")
	setPassword.Flags().BoolVar(&pf.temporary, "temporary", false, "the user must change it at the next sign-in")
	enrollTOTP := &cobra.Command{Use: "enroll-totp USER", Short: "Give a user a new TOTP key and print its secret and otpauth URL (once)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withUser(c, args[0], func(ctx context.Context, ac *adminClient, p printer, path string) error {
				data, err := ac.call(ctx, "POST", path+"/totp", nil)
				if err != nil || p.json {
					return show(p)(data, err)
				}
				var en struct {
					Secret string `json:"secret"`
					URL    string `json:"otpauth_url"`
				}
				if err := json.Unmarshal(data, &en); err != nil {
					return err
				}
				_, err = fmt.Fprintf(e.stdout, "TOTP enrolled for %s\n  secret: %s\n  URL (show as a QR code): %s\n", args[0], en.Secret, en.URL)
				return err
			})
		}}
	removeTOTP := &cobra.Command{Use: "remove-totp USER", Short: "Remove a user's TOTP key", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withUser(c, args[0], func(ctx context.Context, ac *adminClient, p printer, path string) error {
				return done(e.stdout, "removed the TOTP key of "+args[0])(ac.call(ctx, "DELETE", path+"/totp", nil))
			})
		}}
	return realmFlag(adminGroup("user", "Manage users of a realm", create, list, get, update, del, setPassword, enrollTOTP, removeTOTP), &realm)
}

var clientColumns = []column{{"CLIENT ID", "client_id"}, {"NAME", "name"}, {"AUTH METHOD", "token_endpoint_auth_method"}, {"GRANT TYPES", "grant_types"}, {"ENABLED", "enabled"}}

// clientFlags are the settings client create and update accept.
type clientFlags struct {
	name, authMethod                         string
	public, enabled, disabled                bool
	redirectURIs, logoutURIs, grants, scopes []string
	accessTTL, requestTTL                    time.Duration
	cibaMode, cibaEndpoint                   string
	firstFactors, secondFactors              []string
	certFiles, certFingerprints              []string
	subjectDN                                string
}

func (cf *clientFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&cf.name, "name", "", "name shown to users")
	c.Flags().BoolVar(&cf.public, "public", false, "a public client (no secret; authenticates with none plus PKCE)")
	c.Flags().StringVar(&cf.authMethod, "auth-method", "", "token endpoint authentication: client_secret_basic, client_secret_post, private_key_jwt or none")
	c.Flags().StringSliceVar(&cf.redirectURIs, "redirect-uri", nil, "redirect URI (repeatable)")
	c.Flags().StringSliceVar(&cf.logoutURIs, "post-logout-redirect-uri", nil, "post-logout redirect URI (repeatable)")
	c.Flags().StringSliceVar(&cf.grants, "grant-type", nil, "grant type (repeatable): authorization_code, refresh_token, client_credentials, urn:openid:params:grant-type:ciba")
	c.Flags().StringSliceVar(&cf.scopes, "scope", nil, "scope the client may request (repeatable)")
	c.Flags().DurationVar(&cf.accessTTL, "access-token-ttl", 0, "access token lifetime, e.g. 5m (0: the realm's default)")
	c.Flags().DurationVar(&cf.requestTTL, "request-ttl", 0, "life of the phone requests made for the client, 10s to 10m (0: the default, 2m)")
	c.Flags().StringVar(&cf.cibaMode, "ciba-mode", "", "CIBA delivery mode: poll, ping or push")
	c.Flags().StringVar(&cf.cibaEndpoint, "ciba-notification-endpoint", "", "https URL where CIBA ping and push notifications go")
	c.Flags().StringSliceVar(&cf.firstFactors, "login-first-factors", nil, "first factors offered for this client: password, phone (empty: the realm's)")
	c.Flags().StringSliceVar(&cf.secondFactors, "login-second-factors", nil, "second factors asked for this client: totp, phone (empty: the realm's)")
	// An array, not a slice: a file name may hold a comma.
	c.Flags().StringArrayVar(&cf.certFiles, "tls-certificate", nil, "PEM file whose (first) certificate identifies the client at the API and GRPC listeners (repeatable; given, the certificates replace the client's)")
	c.Flags().StringSliceVar(&cf.certFingerprints, "tls-certificate-sha256", nil, "SHA-256 fingerprint of such a certificate, hex, colons allowed (repeatable; an empty value removes every certificate)")
	c.Flags().StringVar(&cf.subjectDN, "tls-subject-dn", "", "subject (RFC 4514, e.g. 'CN=billing,O=Example Bank,C=DE') of the certificates, signed by the listener's client CA, that identify the client; renewed certificates keep working (empty: none)")
}

// body holds the settings given on the command line; the API keeps the others.
func (cf *clientFlags) body(c *cobra.Command) (map[string]any, error) {
	ch := changes(c)
	ch.set("name", "name", cf.name)
	ch.set("public", "public", cf.public)
	ch.set("auth-method", "token_endpoint_auth_method", cf.authMethod)
	ch.set("redirect-uri", "redirect_uris", cf.redirectURIs)
	ch.set("post-logout-redirect-uri", "post_logout_redirect_uris", cf.logoutURIs)
	ch.set("grant-type", "grant_types", cf.grants)
	ch.set("scope", "scopes", cf.scopes)
	ch.set("access-token-ttl", "access_token_ttl", int64(cf.accessTTL/time.Second))
	ch.set("request-ttl", "request_ttl", int64(cf.requestTTL/time.Second))
	ch.set("ciba-mode", "backchannel_token_delivery_mode", cf.cibaMode)
	ch.set("ciba-notification-endpoint", "backchannel_client_notification_endpoint", cf.cibaEndpoint)
	ch.set("login-first-factors", "login_first_factors", cf.firstFactors)
	ch.set("login-second-factors", "login_second_factors", cf.secondFactors)
	ch.set("tls-subject-dn", "tls_client_auth_subject_dn", cf.subjectDN)
	ch.set("enabled", "enabled", cf.enabled)
	if cf.disabled {
		ch.body["enabled"] = false
	}
	if c.Flags().Changed("tls-certificate") || c.Flags().Changed("tls-certificate-sha256") {
		// Both fields together are the client's new list.
		pems := []string{}
		for _, file := range cf.certFiles {
			cert, err := readCertificateFile(file)
			if err != nil {
				return nil, err
			}
			pems = append(pems, cert)
		}
		fps := cf.certFingerprints
		if fps == nil {
			fps = []string{}
		}
		ch.body["tls_client_certificates"], ch.body["tls_client_certificate_pems"] = fps, pems
	}
	return ch.body, nil
}

// readCertificateFile returns the first certificate of a PEM file, the one a TLS client
// configured with the file presents. Only that block is sent: a private key kept in the
// same file stays here.
func readCertificateFile(path string) (string, error) {
	data, err := readSecretFile("tls-certificate", path)
	if err != nil {
		return "", err
	}
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			return "", usageErr(fmt.Errorf("--tls-certificate: %s holds no PEM certificate", path))
		}
		if block.Type == "CERTIFICATE" {
			return string(pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: block.Bytes})), nil
		}
	}
}

// showSecret prints a client answer and, when it carries a new secret, says it is shown
// only this once.
func showSecret(e *env, p printer) func(json.RawMessage, error) error {
	return func(raw json.RawMessage, err error) error {
		if err := show(p)(raw, err); err != nil {
			return err
		}
		if strings.Contains(string(raw), `"client_secret"`) {
			fmt.Fprintln(e.stderr, "The client secret is shown only now; store it safely.")
		}
		return nil
	}
}

func newAdminClientCmd(e *env, f *adminFlags) *cobra.Command {
	var realm string
	base := func() string { return "/realms/" + esc(realm) + "/clients" }
	one := func(id string) string { return base() + "/" + esc(id) }
	// inRealm runs fn after checking --realm.
	inRealm := func(c *cobra.Command, fn func(ctx context.Context, ac *adminClient, p printer) error) error {
		if err := needRealm(realm); err != nil {
			return err
		}
		return f.run(e, c, fn)
	}
	var cf clientFlags
	create := &cobra.Command{Use: "create CLIENT_ID", Short: "Create a client; a confidential client's secret is printed once", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			body, err := cf.body(c)
			if err != nil {
				return err
			}
			body["client_id"] = args[0]
			return inRealm(c, func(ctx context.Context, ac *adminClient, p printer) error {
				return showSecret(e, p)(ac.call(ctx, "POST", base(), body))
			})
		}}
	cf.register(create)
	create.Flags().BoolVar(&cf.disabled, "disabled", false, "create the client disabled")
	var limit int
	list := &cobra.Command{Use: "list", Short: "List clients", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return inRealm(c, func(ctx context.Context, ac *adminClient, p printer) error {
				return listed(p, clientColumns)(ac.listAll(ctx, base(), nil, limit))
			})
		}}
	list.Flags().IntVar(&limit, "limit", 0, "list at most this many (0: all)")
	get := &cobra.Command{Use: "get CLIENT_ID", Short: "Show a client", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return inRealm(c, func(ctx context.Context, ac *adminClient, p printer) error {
				return show(p)(ac.call(ctx, "GET", one(args[0]), nil))
			})
		}}
	var uf clientFlags
	update := &cobra.Command{Use: "update CLIENT_ID", Short: "Change a client", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			body, err := uf.body(c)
			if err != nil {
				return err
			}
			return inRealm(c, func(ctx context.Context, ac *adminClient, p printer) error {
				return showSecret(e, p)(ac.call(ctx, "PATCH", one(args[0]), body))
			})
		}}
	uf.register(update)
	update.Flags().BoolVar(&uf.enabled, "enabled", true, "enable (true) or disable (false) the client")
	del := &cobra.Command{Use: "delete CLIENT_ID", Short: "Delete a client and its grants", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return inRealm(c, func(ctx context.Context, ac *adminClient, p printer) error {
				return done(e.stdout, "deleted client "+args[0])(ac.call(ctx, "DELETE", one(args[0]), nil))
			})
		}}
	rotate := &cobra.Command{Use: "rotate-secret CLIENT_ID", Short: "Replace a client's secret and print the new one", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return inRealm(c, func(ctx context.Context, ac *adminClient, p printer) error {
				return showSecret(e, p)(ac.call(ctx, "POST", one(args[0])+"/secret", nil))
			})
		}}
	return realmFlag(adminGroup("client", "Manage OAuth clients of a realm", create, list, get, update, del, rotate), &realm)
}

var keyColumns = []column{{"KID", "kid"}, {"ALG", "alg"}, {"STATE", "state"}, {"CREATED", "created_at"}, {"ACTIVATED", "activated_at"}, {"RETIRED", "retired_at"}}

func newAdminKeysCmd(e *env, f *adminFlags) *cobra.Command {
	var realm, alg string
	// keys runs a keys call and prints the realm's keys it answers with.
	keys := func(c *cobra.Command, method, path string, body any) error {
		if err := needRealm(realm); err != nil {
			return err
		}
		return f.run(e, c, func(ctx context.Context, ac *adminClient, p printer) error {
			raw, err := ac.call(ctx, method, "/realms/"+esc(realm)+path, body)
			if err != nil {
				return err
			}
			var page struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal(raw, &page); err != nil {
				return err
			}
			return p.list(page.Items, keyColumns)
		})
	}
	list := &cobra.Command{Use: "list", Short: "List a realm's signing keys and their states", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return keys(c, "GET", "/keys", nil) }}
	rotate := &cobra.Command{Use: "rotate", Short: "Rotate a realm's signing keys now (the old key stays published)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return keys(c, "POST", "/keys/rotate", map[string]string{"alg": alg})
		}}
	rotate.Flags().StringVar(&alg, "alg", "ES256", "algorithm whose keys rotate: ES256, RS256, PS256 or EdDSA")
	return realmFlag(adminGroup("keys", "Inspect and rotate a realm's signing keys", list, rotate), &realm)
}

var sessionColumns = []column{{"ID", "id"}, {"IP", "ip"}, {"AUTH TIME", "auth_time"}, {"LAST SEEN", "last_seen_at"}, {"EXPIRES", "expires_at"}}

func newAdminSessionCmd(e *env, f *adminFlags) *cobra.Command {
	var realm string
	withUser := func(c *cobra.Command, user string, fn func(ctx context.Context, ac *adminClient, p printer, path string) error) error {
		return f.withUser(e, c, realm, user, func(ctx context.Context, ac *adminClient, p printer, path string) error {
			return fn(ctx, ac, p, path+"/sessions")
		})
	}
	list := &cobra.Command{Use: "list USER", Short: "List a user's sessions", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withUser(c, args[0], func(ctx context.Context, ac *adminClient, p printer, path string) error {
				return listed(p, sessionColumns)(ac.listAll(ctx, path, nil, 0))
			})
		}}
	var all bool
	revoke := &cobra.Command{Use: "revoke USER [SESSION_ID]", Short: "End one session of a user, or all with --all (revoking their tokens)", Args: cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			if all == (len(args) == 2) {
				return usageErr(errors.New("give a SESSION_ID or --all"))
			}
			return withUser(c, args[0], func(ctx context.Context, ac *adminClient, p printer, path string) error {
				if all {
					return done(e.stdout, "ended every session of "+args[0])(ac.call(ctx, "DELETE", path, nil))
				}
				return done(e.stdout, "ended session "+args[1])(ac.call(ctx, "DELETE", path+"/"+esc(args[1]), nil))
			})
		}}
	revoke.Flags().BoolVar(&all, "all", false, "end every session of the user")
	return realmFlag(adminGroup("session", "Inspect and end users' sessions", list, revoke), &realm)
}
