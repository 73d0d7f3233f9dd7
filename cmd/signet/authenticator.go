package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-auth/signet/authenticator"
	"github.com/signet-auth/signet/internal/version"
)

// authenticatorOpts are the flags of `signet authenticator`.
type authenticatorOpts struct {
	profile        string
	passphraseFile string
	caFile         string
	name           string
	displayName    string
	identity       string
	approveAll     bool
	denyAll        bool
	number         string
	once           bool
}

// profile is the file an authenticator keeps its identities in; the keys live in the
// key store directory beside it, each encrypted under the passphrase.
type profile struct {
	Identities map[string]*authenticator.Identity `json:"identities"`
}

func newAuthenticatorCmd(e *env) *cobra.Command {
	o := &authenticatorOpts{}
	c := &cobra.Command{
		Use:   "authenticator",
		Short: "A command-line authenticator: enroll as a device and answer requests",
		Long: "Acts as a Signet device, as a phone app would, through the authenticator SDK: enroll with an\n" +
			"activation URL (the QR payload), then run to answer pending requests and read messages.\n" +
			"Identities live in a profile file; their device keys in files beside it, encrypted under a\n" +
			"passphrase read from $SIGNET_AUTHENTICATOR_PASSPHRASE or --passphrase-file.",
		Args: cobra.NoArgs,
	}
	c.PersistentFlags().StringVar(&o.profile, "profile", "", "profile file (default: the user config directory's signet/authenticator.json)")
	c.PersistentFlags().StringVar(&o.passphraseFile, "passphrase-file", "", "file holding the key store passphrase")
	c.PersistentFlags().StringVar(&o.caFile, "ca", "", "PEM file of a CA to trust for the device server (e.g. the dev CA)")

	enroll := &cobra.Command{
		Use:   "enroll URL",
		Short: "Enroll with an activation URL (the QR payload an administrator created)",
		Args:  cobra.ExactArgs(1),
		RunE:  func(_ *cobra.Command, args []string) error { return authenticatorEnroll(e, o, args[0]) },
	}
	enroll.Flags().StringVar(&o.name, "name", "", "name of the identity in the profile (default: user@realm)")
	enroll.Flags().StringVar(&o.displayName, "display-name", "", "device name the server shows (default: this host's name)")

	run := &cobra.Command{
		Use:   "run",
		Short: "Connect, answer pending requests and show messages (acknowledging them) as they come",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return authenticatorRun(cmd, e, o) },
	}
	run.Flags().StringVar(&o.identity, "identity", "", "identity to run as (needed when the profile holds several)")
	run.Flags().BoolVar(&o.approveAll, "approve-all", false, "approve every request without asking (scripts)")
	run.Flags().BoolVar(&o.denyAll, "deny-all", false, "deny every request without asking (scripts)")
	run.Flags().StringVar(&o.number, "number", "", "with --approve-all: the number to confirm for requests with number matching")
	run.Flags().BoolVar(&o.once, "once", false, "show the waiting messages and answer what is pending now, then exit")

	scan := &cobra.Command{
		Use:   "scan URL",
		Short: "Sign in with a QR login code: take the sign-in its URL names (the code's payload) and answer it",
		Args:  cobra.ExactArgs(1),
		RunE:  func(_ *cobra.Command, args []string) error { return authenticatorScan(e, o, args[0]) },
	}
	scan.Flags().StringVar(&o.identity, "identity", "", "identity to sign in as (default: the one enrolled with the code's server and realm)")
	scan.Flags().BoolVar(&o.approveAll, "approve-all", false, "approve without asking (scripts)")
	scan.Flags().BoolVar(&o.denyAll, "deny-all", false, "deny without asking (scripts)")
	scan.Flags().StringVar(&o.number, "number", "", "with --approve-all: the number the login page shows")

	list := &cobra.Command{
		Use: "list", Short: "List the enrolled identities", Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error { return authenticatorList(e, o) },
	}
	remove := &cobra.Command{
		Use: "remove NAME", Short: "Forget an identity and delete its key (the server keeps the device until an administrator removes it)",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error { return authenticatorRemove(e, o, args[0]) },
	}
	c.AddCommand(enroll, run, scan, list, remove)
	return c
}

func (o *authenticatorOpts) profilePath() (string, error) {
	if o.profile != "" {
		return o.profile, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", usageErr(fmt.Errorf("no user config directory; pass --profile: %w", err))
	}
	return filepath.Join(dir, "signet", "authenticator.json"), nil
}

func loadProfile(path string) (*profile, error) {
	p := &profile{Identities: map[string]*authenticator.Identity{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, p); err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	if p.Identities == nil {
		p.Identities = map[string]*authenticator.Identity{}
	}
	return p, nil
}

func (p *profile) save(path string) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// open builds the SDK over the profile's key store.
func (o *authenticatorOpts) open(e *env) (*authenticator.Authenticator, *profile, string, error) {
	a, p, path, _, err := o.openStore(e)
	return a, p, path, err
}

func (o *authenticatorOpts) openStore(e *env) (*authenticator.Authenticator, *profile, string, *authenticator.FileKeyStore, error) {
	fail := func(err error) (*authenticator.Authenticator, *profile, string, *authenticator.FileKeyStore, error) {
		return nil, nil, "", nil, err
	}
	path, err := o.profilePath()
	if err != nil {
		return fail(err)
	}
	pass := lookupEnv(e.environ, "SIGNET_AUTHENTICATOR_PASSPHRASE")
	if o.passphraseFile != "" {
		b, err := os.ReadFile(o.passphraseFile)
		if err != nil {
			return fail(usageErr(err))
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	if pass == "" {
		return fail(usageErr(errors.New("the key store needs a passphrase: set SIGNET_AUTHENTICATOR_PASSPHRASE or pass --passphrase-file")))
	}
	ks, err := authenticator.NewFileKeyStore(filepath.Join(filepath.Dir(path), "keys"), pass)
	if err != nil {
		return fail(err)
	}
	a := authenticator.New(ks)
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return fail(usageErr(err))
		}
		if err := a.TrustPEM(pem); err != nil {
			return fail(usageErr(err))
		}
	}
	p, err := loadProfile(path)
	if err != nil {
		return fail(err)
	}
	return a, p, path, ks, nil
}

func authenticatorEnroll(e *env, o *authenticatorOpts, url string) error {
	a, p, path, err := o.open(e)
	if err != nil {
		return err
	}
	display := o.displayName
	if display == "" {
		display, _ = os.Hostname()
	}
	s, err := a.Enroll(url, &authenticator.Enrollment{DisplayName: display, Platform: "cli", AppVersion: version.String()})
	if err != nil {
		return err
	}
	defer s.Close()
	id := s.Identity()
	name := o.name
	if name == "" {
		name = id.Username + "@" + id.Realm
	}
	if _, taken := p.Identities[name]; taken {
		name = name + "-" + id.DeviceID[:6]
	}
	p.Identities[name] = id
	if err := p.save(path); err != nil {
		return fmt.Errorf("enrolled device %s, but the profile could not be saved: %w", id.DeviceID, err)
	}
	fmt.Fprintf(e.stdout, "enrolled device %s for %s in realm %s as %q\n", id.DeviceID, id.Username, id.Realm, name)
	return nil
}

func authenticatorList(e *env, o *authenticatorOpts) error {
	path, err := o.profilePath()
	if err != nil {
		return err
	}
	p, err := loadProfile(path)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(p.Identities))
	for n := range p.Identities {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREALM\tUSER\tDEVICE\tSERVER")
	for _, n := range names {
		id := p.Identities[n]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n, id.Realm, id.Username, id.DeviceID, id.ChannelURL)
	}
	return tw.Flush()
}

func authenticatorRemove(e *env, o *authenticatorOpts, name string) error {
	_, p, path, ks, err := o.openStore(e)
	if err != nil {
		return err
	}
	id, ok := p.Identities[name]
	if !ok {
		return usageErr(fmt.Errorf("no identity %q in %s", name, path))
	}
	if err := ks.DeleteKey(id.KeyAlias); err != nil {
		return err
	}
	delete(p.Identities, name)
	if err := p.save(path); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed %q (device %s)\n", name, id.DeviceID)
	return nil
}

// pick chooses the identity to run as.
func (p *profile) pick(name, path string) (string, *authenticator.Identity, error) {
	if name != "" {
		id, ok := p.Identities[name]
		if !ok {
			return "", nil, usageErr(fmt.Errorf("no identity %q in %s", name, path))
		}
		return name, id, nil
	}
	if len(p.Identities) != 1 {
		return "", nil, usageErr(fmt.Errorf("%s holds %d identities; choose one with --identity", path, len(p.Identities)))
	}
	var only string
	for n := range p.Identities {
		only = n
	}
	return only, p.Identities[only], nil
}

// requestQueue tells the answering loop that something changed: a new request, a new
// message, or the end of the connection. A notice that finds the loop busy is folded
// into the one waiting, and the loop lists what is pending or waiting, so nothing is
// missed.
type requestQueue struct {
	poke   chan struct{}
	msgs   chan struct{}
	closed chan string
}

func (q *requestQueue) OnRequest(*authenticator.Request) {
	select {
	case q.poke <- struct{}{}:
	default:
	}
}

func (q *requestQueue) OnMessage(*authenticator.Message) {
	select {
	case q.msgs <- struct{}{}:
	default:
	}
}

func (q *requestQueue) OnClosed(err string) { q.closed <- err }

func authenticatorRun(cmd *cobra.Command, e *env, o *authenticatorOpts) error {
	if o.approveAll && o.denyAll {
		return usageErr(errors.New("--approve-all and --deny-all exclude each other"))
	}
	a, p, path, err := o.open(e)
	if err != nil {
		return err
	}
	name, id, err := p.pick(o.identity, path)
	if err != nil {
		return err
	}
	s, err := a.Connect(id, &authenticator.Enrollment{Platform: "cli", AppVersion: version.String()})
	if err != nil {
		return err
	}
	defer s.Close()
	q := &requestQueue{poke: make(chan struct{}, 1), msgs: make(chan struct{}, 1), closed: make(chan string, 1)}
	s.SetListener(q)
	fmt.Fprintf(e.stdout, "connected as %q (%s in realm %s); waiting for requests\n", name, id.Username, id.Realm)
	shown := map[string]bool{}
	if err := showMessages(e, s, shown); err != nil {
		return err
	}
	in := bufio.NewReader(e.input())
	seen := map[string]bool{}
	handle := func(r *authenticator.Request) error {
		if seen[r.ID] {
			return nil
		}
		seen[r.ID] = true
		full, err := s.Fetch(r.ID)
		if err != nil {
			var se *authenticator.ServerError
			if errors.As(err, &se) {
				fmt.Fprintf(e.stdout, "request %s: %s\n", r.ID, se.Message)
				return nil
			}
			return err
		}
		return answerRequest(e, o, s, in, full)
	}
	answerPending := func() error {
		pending, err := s.Pending()
		if err != nil {
			return err
		}
		for i := range pending.Len() {
			if err := handle(pending.Get(i)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := answerPending(); err != nil {
		return err
	}
	if o.once {
		return nil
	}
	ctx := cmd.Context()
	for {
		select {
		case <-q.poke:
			if err := answerPending(); err != nil {
				return err
			}
		case <-q.msgs:
			if err := showMessages(e, s, shown); err != nil {
				return err
			}
		case msg := <-q.closed:
			return fmt.Errorf("the connection ended: %s", msg)
		case <-ctx.Done():
			return nil
		}
	}
}

// showMessages prints the messages waiting for the device and acknowledges each, so the
// server forgets them; shown keeps a message that is listed again (its ack failed) from
// being printed twice.
func showMessages(e *env, s *authenticator.Session, shown map[string]bool) error {
	for {
		list, err := s.Messages()
		if err != nil {
			return err
		}
		acked := 0
		for i := range list.Len() {
			m := list.Get(i)
			if !shown[m.ID] {
				shown[m.ID] = true
				printMessage(e.stdout, m)
			}
			var se *authenticator.ServerError
			if err := s.AckMessage(m.ID); errors.As(err, &se) {
				continue // acknowledged meanwhile by another connection of the device, or expired
			} else if err != nil {
				return err
			}
			acked++
		}
		// More wait than one answer holds: list again once these are gone.
		if !list.More() || acked == 0 {
			return nil
		}
	}
}

// printMessage shows a message; the server allows no control characters in it but
// newlines and tabs in the body.
func printMessage(w io.Writer, m *authenticator.Message) {
	fmt.Fprintf(w, "\nmessage %s (%s)\n", m.ID, time.Unix(m.CreatedAt, 0).UTC().Format(time.RFC3339))
	if m.Title != "" {
		fmt.Fprintf(w, "  title: %s\n", m.Title)
	}
	if m.Body != "" {
		for line := range strings.SplitSeq(m.Body, "\n") {
			fmt.Fprintf(w, "  | %s\n", line)
		}
	}
}

// authenticatorScan claims the sign-in of a QR login code for an enrolled identity of the
// code's server and realm, and answers it.
func authenticatorScan(e *env, o *authenticatorOpts, raw string) error {
	if o.approveAll && o.denyAll {
		return usageErr(errors.New("--approve-all and --deny-all exclude each other"))
	}
	qr, err := authenticator.ParseLoginURL(raw)
	if err != nil {
		return usageErr(err)
	}
	a, p, path, err := o.open(e)
	if err != nil {
		return err
	}
	var id *authenticator.Identity
	if o.identity != "" {
		if _, id, err = p.pick(o.identity, path); err != nil {
			return err
		}
	} else {
		for _, cand := range p.Identities {
			if cand.ChannelURL == qr.ChannelURL && cand.Realm == qr.Realm {
				if id != nil {
					return usageErr(fmt.Errorf("several identities of realm %s in %s; choose one with --identity", qr.Realm, path))
				}
				id = cand
			}
		}
		if id == nil {
			return fmt.Errorf("no identity in %s is enrolled in realm %s of %s", path, qr.Realm, qr.ChannelURL)
		}
	}
	s, err := a.Connect(id, &authenticator.Enrollment{Platform: "cli", AppVersion: version.String()})
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := s.Claim(qr)
	if err != nil {
		return err
	}
	return answerRequest(e, o, s, bufio.NewReader(e.input()), r)
}

// answerRequest shows a request and approves or denies it as told or as the user types.
func answerRequest(e *env, o *authenticatorOpts, s *authenticator.Session, in *bufio.Reader, r *authenticator.Request) error {
	w := e.stdout
	fmt.Fprintf(w, "\nrequest %s (%s)\n", r.ID, r.Kind)
	app := r.ClientID
	if r.ClientName != "" {
		app = r.ClientName + " (" + r.ClientID + ")"
	}
	fmt.Fprintf(w, "  application: %s\n", app)
	if r.Text != "" {
		fmt.Fprintf(w, "  message:     %s\n", r.Text)
	}
	if r.AuthorizationDetails != "" {
		fmt.Fprintf(w, "  details:     %s\n", r.AuthorizationDetails)
	}
	var from []string
	for _, k := range []string{"ip", "location", "user_agent"} {
		if v := r.Origin(k); v != "" {
			from = append(from, k+"="+v)
		}
	}
	if len(from) > 0 {
		fmt.Fprintf(w, "  from:        %s\n", strings.Join(from, ", "))
	}
	var choices []string
	for i := range r.NumberChoiceCount() {
		choices = append(choices, r.NumberChoice(i))
	}
	if len(choices) > 0 {
		fmt.Fprintf(w, "  numbers:     %s\n", strings.Join(choices, "  "))
	}
	approve, number := false, ""
	switch {
	case o.denyAll:
	case o.approveAll:
		approve, number = true, o.number
		if len(choices) > 0 && number == "" {
			fmt.Fprintln(w, "  denied: the request needs number matching and no --number was given")
			approve = false
		}
	default:
		prompt := "  approve? [y/n] "
		if len(choices) > 0 {
			prompt = "  type the number shown where you signed in to approve, n to deny: "
		}
		fmt.Fprint(w, prompt)
		line, err := in.ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return fmt.Errorf("read the answer: %w", err)
		}
		line = strings.TrimSpace(line)
		switch {
		case len(choices) > 0 && line != "" && line != "n" && line != "no":
			approve, number = true, line
		case len(choices) == 0 && (line == "y" || line == "yes"):
			approve = true
		}
	}
	var state string
	var err error
	if approve {
		state, err = s.Approve(r, number)
	} else {
		state, err = s.Deny(r)
	}
	var se *authenticator.ServerError
	if errors.As(err, &se) {
		fmt.Fprintf(w, "  not recorded: %s\n", se.Message)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  %s\n", state)
	return nil
}
