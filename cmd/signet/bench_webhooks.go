package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/signet-auth/signet/internal/events/eventsbench"
	"github.com/signet-auth/signet/internal/store"
	"github.com/signet-auth/signet/internal/store/postgres"
	"github.com/signet-auth/signet/internal/store/sqlite"
)

// `signet bench webhooks` measures webhook deliveries per second from one Deliverer on
// one core draining a backlog, and the time from an event's commit to its arrival, with
// the receiver in another process on another core (internal/events/eventsbench). The
// ceilings are plain POSTs of the same body through the same outbound client, on the
// same core in the same run.

// webhooksBenchOpts configures `signet bench webhooks` and its hidden run process.
type webhooksBenchOpts struct {
	database                   string
	events, subscriptions      int
	latencyEvents              int
	interval                   time.Duration
	delivererCPU, receiverCPU  int
	phase, receiverURL, caFile string
}

func addWebhooksBench(parent *cobra.Command, e *env) {
	var o webhooksBenchOpts
	c := &cobra.Command{
		Use:   "webhooks",
		Short: "webhook deliveries/s on one core and p50/p99 from commit to delivery, against plain POSTs through the same client",
		Long: "Starts a webhook receiver (TLS, HTTP/2, answers 204) pinned to one core, then, pinned to another core\n" +
			"with GOMAXPROCS=1, two runs, each on a new database: --events events appended to a realm with\n" +
			"--subscriptions subscriptions and drained by a Deliverer (claim, sign, POST, record) until the receiver\n" +
			"has them all, then as many plain POSTs of the same body through the same outbound client (the ceiling);\n" +
			"and --latency-events events appended one every --interval through an Outbox that nudges the Deliverer,\n" +
			"timed from the Append call to the arrival, beside the p99 of a plain POST. The database is a new SQLite\n" +
			"file (removed afterwards) or, with --database postgres://..., a new schema (dropped afterwards).",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := benchWebhooks(c.Context(), e, o); err != nil {
				return &exitError{code: exitFailure, err: err}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&o.database, "database", "", "PostgreSQL URL (postgres://...) to run on, in a new schema dropped afterwards (default: a new SQLite file)")
	f.IntVar(&o.events, "events", 20000, "events drained in the throughput run")
	f.IntVar(&o.subscriptions, "subscriptions", 1, "subscriptions each event is delivered to in the throughput run")
	f.IntVar(&o.latencyEvents, "latency-events", 2000, "events timed from commit to delivery")
	f.DurationVar(&o.interval, "interval", time.Millisecond, "time between the appends of the latency run")
	f.IntVar(&o.delivererCPU, "deliverer-cpu", 0, "core the Deliverer, its store client and the ceilings run on")
	f.IntVar(&o.receiverCPU, "receiver-cpu", 1, "core the receiver runs on")

	receiver := &cobra.Command{Use: "webhook-receiver", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchWebhookReceiver(e) }}
	var ro webhooksBenchOpts
	run := &cobra.Command{Use: "webhooks-run", Hidden: true, Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return benchWebhooksRun(c.Context(), e, ro) }}
	rf := run.Flags()
	rf.StringVar(&ro.phase, "phase", "", "")
	rf.StringVar(&ro.database, "database", "", "")
	rf.StringVar(&ro.receiverURL, "receiver", "", "")
	rf.StringVar(&ro.caFile, "ca", "", "")
	rf.IntVar(&ro.events, "events", 0, "")
	rf.IntVar(&ro.subscriptions, "subscriptions", 1, "")
	rf.DurationVar(&ro.interval, "interval", time.Millisecond, "")
	parent.AddCommand(c, receiver, run)
}

// receiverBanner is what `bench webhook-receiver` prints first.
type receiverBanner struct {
	URL  string `json:"url"`
	Cert string `json:"cert"` // PEM
}

// benchWebhookReceiver serves an eventsbench.Receiver until its standard input ends.
func benchWebhookReceiver(e *env) error {
	r := eventsbench.StartReceiver()
	defer r.Close()
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate().Raw})
	b, _ := json.Marshal(receiverBanner{URL: r.URL(), Cert: string(cert)})
	if _, err := fmt.Fprintf(e.stdout, "%s\n", b); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, e.input())
	return nil
}

// webhooksRunResult is what a run process prints: one of the two.
type webhooksRunResult struct {
	Deliver *eventsbench.DeliverResult `json:"deliver,omitempty"`
	Latency *eventsbench.LatencyResult `json:"latency,omitempty"`
	// CPU is the run process's CPU time from its start to its result.
	CPU time.Duration `json:"cpu"`
}

func benchWebhooks(ctx context.Context, e *env, o webhooksBenchOpts) error {
	if o.events < 1 || o.subscriptions < 1 || o.latencyEvents < 1 || o.interval <= 0 {
		return errors.New("--events, --subscriptions, --latency-events and --interval must be positive")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "signet-bench-webhooks-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbs, err := openBenchDatabases(ctx, o.database, dir)
	if err != nil {
		return err
	}
	defer func() {
		if err := dbs.close(); err != nil {
			fmt.Fprintf(e.stderr, "bench webhooks: %v\n", err)
		}
	}()

	var banner receiverBanner
	rcv, stopReceiver, err := startBenchHelper(ctx, e, self, o.receiverCPU, &banner, "webhook-receiver")
	if err != nil {
		return err
	}
	defer stopReceiver()
	caFile := filepath.Join(dir, "receiver.pem")
	if err := os.WriteFile(caFile, []byte(banner.Cert), 0o600); err != nil {
		return err
	}

	// run starts a run process on the Deliverer's core, on a new database.
	run := func(phase string, args ...string) (webhooksRunResult, error) {
		database, err := dbs.fresh(ctx)
		if err != nil {
			return webhooksRunResult{}, err
		}
		var r webhooksRunResult
		err = runBenchHelper(ctx, e, self, o.delivererCPU, &r, append([]string{"webhooks-run", "--phase", phase,
			"--database", database, "--receiver", banner.URL, "--ca", caFile}, args...)...)
		return r, err
	}
	// sample reads the receiver's CPU time and the Deliverer's core's times.
	sample := func() (time.Duration, coreTime, error) {
		rcvCPU, err := processCPU(rcv.Process.Pid)
		if err != nil {
			return 0, coreTime{}, err
		}
		core, err := coreBusy(o.delivererCPU)
		return rcvCPU, core, err
	}
	rcvBefore, coreBefore, err := sample()
	if err != nil {
		return err
	}
	dr, err := run("deliver", "--events", strconv.Itoa(o.events), "--subscriptions", strconv.Itoa(o.subscriptions))
	if err != nil {
		return err
	}
	rcvAfter, coreAfter, err := sample()
	if err != nil {
		return err
	}
	lr, err := run("latency", "--events", strconv.Itoa(o.latencyEvents), "--interval", o.interval.String())
	if err != nil {
		return err
	}
	d, l := dr.Deliver, lr.Latency
	if d == nil || l == nil {
		return errors.New("a run printed no result")
	}

	w := e.stdout
	subs := "1 subscription"
	if o.subscriptions > 1 {
		subs = fmt.Sprintf("%d subscriptions", o.subscriptions)
	}
	fmt.Fprintf(w, "where: the Deliverer, its store client and the plain POSTs on core %d (GOMAXPROCS=1); the receiver (TLS, HTTP/2) on core %d; %s\n",
		o.delivererCPU, o.receiverCPU, dbs.where())
	fmt.Fprintf(w, "webhook deliveries (one core, %s, %s): %.0f/s (%d deliveries in %.2f s, %d failed attempts)\n",
		dbs.name(), subs, d.Rate(), d.Deliveries, d.Elapsed.Seconds(), d.Failed)
	fmt.Fprintf(w, "ceiling: plain POSTs of the same body, same client, same core: %.0f/s (%d at a time)\n", d.Ceiling(), d.Concurrency)
	fmt.Fprintf(w, "ratio: %.3f (target: 2,000 deliveries/s on one core with PostgreSQL)\n", d.Ratio())
	perDelivery := d.CPU.Seconds() * 1e6 / float64(d.Deliveries)
	perPost := d.PostCPU.Seconds() * 1e6 / float64(d.Posts)
	// A core busy well below 100 % waited on round trips (to the receiver, to the
	// database) rather than working: one ordered stream posts one delivery at a time.
	fmt.Fprintf(w, "CPU time: %.1f µs per delivery against %.1f µs per plain POST: ratio %.3f; core %d busy %.0f %% delivering, %.0f %% posting; the receiver %.1f µs per request\n",
		perDelivery, perPost, perPost/perDelivery, o.delivererCPU, 100*d.CPU.Seconds()/d.Elapsed.Seconds(), 100*d.PostCPU.Seconds()/d.PostElapsed.Seconds(),
		(rcvAfter-rcvBefore).Seconds()*1e6/float64(d.Deliveries+d.Posts))
	// The Deliverer's process is pinned, PostgreSQL's server and the rest of the machine
	// are not: what else ran on the core took it from the Deliverer.
	busy, total := coreAfter.busy-coreBefore.busy, coreAfter.total-coreBefore.total
	fmt.Fprintf(w, "core %d during the throughput run: %.0f %% busy, %.0f %% the run process, %.0f %% other processes\n",
		o.delivererCPU, 100*busy.Seconds()/total.Seconds(), 100*dr.CPU.Seconds()/total.Seconds(), 100*max(0, busy-dr.CPU).Seconds()/total.Seconds())
	fmt.Fprintf(w, "commit to delivery: p50 %s, p99 %s (plain POST p99 %s; %d events, one every %s, %d failed attempts)\n",
		millis(l.P50), millis(l.P99), millis(l.PostP99), l.Events, o.interval, l.Failed)
	if d.Failed > 0 || l.Failed > 0 {
		return fmt.Errorf("%d delivery attempts failed", d.Failed+l.Failed)
	}
	return nil
}

func millis(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1e3, 'f', 2, 64) + " ms"
}

// benchWebhooksRun is one run on the Deliverer's core: it opens and migrates the
// database, measures and prints a webhooksRunResult.
func benchWebhooksRun(ctx context.Context, e *env, o webhooksBenchOpts) error {
	roots, err := loadRoots(o.caFile)
	if err != nil {
		return err
	}
	to := &eventsbench.Target{URL: o.receiverURL, Roots: roots}
	st, err := openBenchStore(ctx, o.database)
	if err != nil {
		return err
	}
	defer st.Close()
	var res webhooksRunResult
	switch o.phase {
	case "deliver":
		r, err := eventsbench.Deliver(ctx, st, eventsbench.DeliverOptions{Events: o.events, Subscriptions: o.subscriptions, Receiver: to, CPU: cpuTime})
		if err != nil {
			return err
		}
		res.Deliver = &r
	case "latency":
		r, err := eventsbench.CommitToDelivery(ctx, st, eventsbench.LatencyOptions{Events: o.events, Interval: o.interval, Receiver: to})
		if err != nil {
			return err
		}
		res.Latency = &r
	default:
		return fmt.Errorf("unknown phase %q", o.phase)
	}
	res.CPU = cpuTime()
	return json.NewEncoder(e.stdout).Encode(res)
}

// coreTime is what /proc/stat counts for one core: its busy time and all its time.
type coreTime struct{ busy, total time.Duration }

// coreBusy reads core cpu's line of /proc/stat (clock ticks of 10 ms): busy is all but
// idle and iowait.
func coreBusy(cpu int) (coreTime, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return coreTime{}, err
	}
	prefix := fmt.Sprintf("cpu%d ", cpu)
	for line := range strings.Lines(string(raw)) {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		var t coreTime
		for i, f := range strings.Fields(rest) {
			if i >= 8 { // guest time is counted in user time already
				break
			}
			ticks, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return coreTime{}, fmt.Errorf("/proc/stat: %w", err)
			}
			d := time.Duration(ticks) * 10 * time.Millisecond
			t.total += d
			if i != 3 && i != 4 { // idle, iowait
				t.busy += d
			}
		}
		return t, nil
	}
	return coreTime{}, fmt.Errorf("/proc/stat: no line for core %d", cpu)
}

// openBenchStore opens and migrates the store at database: a postgres:// URL or a
// SQLite file's path.
func openBenchStore(ctx context.Context, database string) (store.Store, error) {
	var st store.Store
	var err error
	if isPostgresURL(database) {
		st, err = postgres.Open(ctx, database)
	} else {
		st, err = sqlite.Open(ctx, database)
	}
	if err != nil {
		return nil, err
	}
	if _, err := st.MigrateUp(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return st, nil
}

func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// benchDatabases hands each run of the bench a new, empty database and removes them
// all at the end: SQLite files in the bench's temporary directory, or schemas in the
// PostgreSQL database at url, created and dropped over one connection of their own.
type benchDatabases struct {
	dir     string
	url     *url.URL
	conn    *pgx.Conn
	runs    int
	schemas []string
}

func openBenchDatabases(ctx context.Context, database, dir string) (*benchDatabases, error) {
	dbs := &benchDatabases{dir: dir}
	if database == "" {
		return dbs, nil
	}
	u, err := url.Parse(database)
	if err != nil || !isPostgresURL(database) {
		return nil, errors.New("--database takes a postgres:// URL")
	}
	dbs.url = u
	if dbs.conn, err = pgx.Connect(ctx, database); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", u.Redacted(), err)
	}
	return dbs, nil
}

func (d *benchDatabases) name() string {
	if d.url == nil {
		return "SQLite"
	}
	return "PostgreSQL"
}

func (d *benchDatabases) where() string {
	if d.url == nil {
		return "SQLite in the Deliverer's process (a new file for each run)"
	}
	return "PostgreSQL's server not pinned (a new schema for each run)"
}

// fresh returns a new empty database: a SQLite file's path, or a URL of the PostgreSQL
// database whose connections see only a new schema. The pool may hold 8 connections
// unless the URL says otherwise, as in the Go benchmarks (internal/store/testdb).
func (d *benchDatabases) fresh(ctx context.Context) (string, error) {
	d.runs++
	if d.url == nil {
		return filepath.Join(d.dir, fmt.Sprintf("run%d.db", d.runs)), nil
	}
	schema := "signet_bench_" + strings.ToLower(rand.Text()[:16])
	if _, err := d.conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", fmt.Errorf("create schema: %w", err)
	}
	d.schemas = append(d.schemas, schema)
	u := *d.url
	q := u.Query()
	q.Set("search_path", schema)
	if !q.Has("pool_max_conns") {
		q.Set("pool_max_conns", "8")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// close drops the schemas (the SQLite files go with the temporary directory).
func (d *benchDatabases) close() error {
	if d.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, s := range d.schemas {
		if _, err := d.conn.Exec(ctx, "DROP SCHEMA "+s+" CASCADE"); err != nil {
			errs = append(errs, fmt.Errorf("drop schema %s: %w", s, err))
		}
	}
	return errors.Join(append(errs, d.conn.Close(ctx))...)
}
