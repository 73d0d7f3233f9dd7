package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-auth/signet/internal/config"
	redisstore "github.com/signet-auth/signet/internal/ephemeral/redis"
	"github.com/signet-auth/signet/internal/keys"
	"github.com/signet-auth/signet/internal/ops"
	"github.com/signet-auth/signet/internal/server"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/version"
)

// configFlags are the flags every command that reads the configuration shares.
type configFlags struct {
	file  string
	dev   bool
	roles []string
}

func (f *configFlags) register(c *cobra.Command, withDev bool) {
	c.Flags().StringVarP(&f.file, "config", "c", "", "YAML configuration file (default: $SIGNET_CONFIG)")
	if withDev {
		c.Flags().BoolVar(&f.dev, "dev", false, "development mode: data directory, dev CA and certificates, loopback only")
	}
}

// load reads the configuration and checks it completely (server.Check); every problem
// is reported at once.
func (f *configFlags) load(e *env) (config.Config, error) {
	return f.loadWith(e, server.Check)
}

// loadWith reads the configuration and checks it with check.
func (f *configFlags) loadWith(e *env, check func(*config.Config) error) (config.Config, error) {
	file := f.file
	if file == "" {
		file = lookupEnv(e.environ, "SIGNET_CONFIG")
	}
	cfg, problems := config.Load(file, e.environ, f.dev)
	if len(f.roles) > 0 {
		cfg.Roles = f.roles
	}
	if err := check(&cfg); err != nil {
		var more config.Problems
		if !errors.As(err, &more) {
			return cfg, usageErr(err)
		}
		problems = append(problems, more...)
	}
	if len(problems) > 0 {
		return cfg, usageErr(fmt.Errorf("configuration has %d problem(s):\n%s", len(problems), problems.Error()))
	}
	return cfg, nil
}

func lookupEnv(environ []string, key string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

func newLogger(cfg config.Config, e *env) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated already
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(e.stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(e.stderr, opts))
}

func newServeCmd(e *env) *cobra.Command {
	var f configFlags
	var prof profileFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run a Signet node (every role, or those given with --roles)",
		Long: "Run a Signet node. With --dev, Signet creates a data directory, a SQLite database and a\n" +
			"development CA with certificates for every listener, binds to loopback and prints the URLs.\n" +
			"SIGTERM drains in-flight requests and stops; SIGHUP re-reads certificate files at once.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := f.load(e)
			if err != nil {
				return err
			}
			log := newLogger(cfg, e)
			redisstore.RouteClientLogs(log)
			setGCTarget(c.Context(), e)
			srv, err := server.New(cfg, log)
			if err != nil {
				return usageErr(err)
			}
			hup := e.hup
			if hup == nil {
				hup = notifyHUP(c.Context())
			}
			stopProfile, err := prof.start()
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			err = srv.Run(c.Context(), e.stdout, hup)
			if perr := stopProfile(); perr != nil {
				err = errors.Join(err, perr)
			}
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	f.register(c, true)
	prof.register(c)
	c.Flags().StringSliceVar(&f.roles, "roles", nil, "roles to run, comma-separated: "+fmt.Sprint(config.AllRoles))
	return c
}

// notifyHUP turns SIGHUP into a channel until ctx ends.
func notifyHUP(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	out := make(chan struct{}, 1)
	signal.Notify(sig, syscall.SIGHUP)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

func newConfigCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Inspect the configuration", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageErr(errors.New("config needs a subcommand: check or docs"))
		}}
	var f configFlags
	check := &cobra.Command{
		Use:   "check",
		Short: "Load and validate the configuration; print every problem at once",
		Long:  "Load the configuration (file, then SIGNET_* variables) and validate it.\nExits 0 when valid, 2 when anything is wrong, printing every problem with its key.",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if _, err := f.load(e); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "configuration is valid")
			return nil
		},
	}
	f.register(check, true)
	docs := &cobra.Command{
		Use:   "docs",
		Short: "Print every configuration key with its environment variable and default (Markdown)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(e.stdout, config.Markdown())
			return err
		},
	}
	c.AddCommand(check, docs)
	return c
}

func newMigrateCmd(e *env) *cobra.Command {
	var f configFlags
	c := &cobra.Command{Use: "migrate", Short: "Apply or inspect database schema migrations", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageErr(errors.New("migrate needs a subcommand: up or status"))
		}}
	c.PersistentFlags().StringVarP(&f.file, "config", "c", "", "YAML configuration file (default: $SIGNET_CONFIG)")
	withStore := func(ctx context.Context, fn func(st store.Migrator) error) error {
		// Migrating needs only the database; listeners need not be configured on this host.
		cfg, err := f.loadWith(e, (*config.Config).ValidateStorage)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return &exitError{code: exitFailure, err: err}
		}
		st, err := server.OpenStore(ctx, cfg)
		if err != nil {
			return &exitError{code: exitFailure, err: err}
		}
		defer st.Close()
		return fn(st)
	}
	up := &cobra.Command{
		Use: "up", Short: "Apply every pending migration", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withStore(c.Context(), func(st store.Migrator) error {
				applied, err := st.MigrateUp(c.Context())
				if err != nil {
					return &exitError{code: exitFailure, err: err}
				}
				for _, m := range applied {
					fmt.Fprintf(e.stdout, "applied %04d %s\n", m.Version, m.Name)
				}
				fmt.Fprintf(e.stdout, "%d migration(s) applied; schema is up to date\n", len(applied))
				return nil
			})
		},
	}
	status := &cobra.Command{
		Use: "status", Short: "List migrations; exit 3 if any is pending", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withStore(c.Context(), func(st store.Migrator) error {
				ms, err := st.MigrationStatus(c.Context())
				if err != nil {
					return &exitError{code: exitFailure, err: err}
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
				for _, m := range ms {
					state, at := "pending", ""
					if m.Unknown {
						state = "unknown to this build"
					}
					if m.Applied {
						state, at = "applied", m.AppliedAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%04d\t%s\t%s\t%s\n", m.Version, m.Name, state, at)
				}
				_ = tw.Flush()
				if err := store.CheckSchemaNotNewer(ms); err != nil {
					return &exitError{code: exitFailure, err: err}
				}
				if slices.ContainsFunc(ms, func(m store.Migration) bool { return !m.Applied }) {
					return &exitError{code: exitPending, err: errors.New("migrations are pending; run `signet migrate up`")}
				}
				return nil
			})
		},
	}
	c.AddCommand(up, status)
	return c
}

func newKeysCmd(e *env) *cobra.Command {
	c := &cobra.Command{Use: "keys", Short: "Key material helpers", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageErr(errors.New("keys needs a subcommand: generate-kek"))
		}}
	c.AddCommand(&cobra.Command{
		Use:   "generate-kek",
		Short: "Print a new random key-encryption key for keys.encryption_key",
		Long: "Print 32 random bytes, base64-encoded, for keys.encryption_key (SIGNET_KEYS_ENCRYPTION_KEY).\n" +
			"To rotate it, move the old value to keys.previous_encryption_keys and set the new one.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			kek, err := keys.GenerateKEK()
			if err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			_, err = fmt.Fprintln(e.stdout, kek)
			return err
		},
	})
	return c
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(e.stdout, "signet", version.String())
			return err
		},
	}
}

// gcTuning is the Go GC target `signet serve` runs with unless GOGC says otherwise:
// 400 % while the live heap is under 32 MiB (about 2 µs of a token request's 56 saved,
// docs/performance.md), falling to Go's 100 % as the heap grows (many device
// connections), so garbage stays in proportion. GOMEMLIMIT still caps the heap when set.
// Either way (unless GOGC=off) a node gone quiet returns its free heap to the system
// (ops.GCTuning.Run).
var gcTuning = ops.GCTuning{High: 400, Small: 32 << 20}

func setGCTarget(ctx context.Context, e *env) {
	if lookupEnv(e.environ, "GOGC") == "" {
		go gcTuning.Run(ctx)
		return
	}
	if !strings.EqualFold(lookupEnv(e.environ, "GOGC"), "off") {
		go ops.GCTuning{}.Run(ctx) // GOGC rules the target; a quiet node is still trimmed
	}
}
