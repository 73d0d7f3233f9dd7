package archtest

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// dashboard is what TestGrafanaDashboard reads of deploy/grafana/signet-dashboard.json.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

var (
	metricRef  = regexp.MustCompile(`\bsignet_[a-z_]+\b`)
	metricName = regexp.MustCompile(`"(signet_[a-z_]+)"`)
)

// definedMetrics are the signet_* metric names the server's non-test Go code defines.
func definedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range metricName.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// checkMetrics fails for each signet_* metric expr names that the code does not define
// (a histogram's _bucket, _sum and _count series count as its own).
func checkMetrics(t *testing.T, where, expr string, defined map[string]bool) {
	t.Helper()
	for _, ref := range metricRef.FindAllString(expr, -1) {
		base := ref
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(ref, suffix); ok && defined[b] {
				base = b
			}
		}
		if !defined[base] {
			t.Errorf("%s reads %s, which Signet does not export", where, ref)
		}
	}
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "signet-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	return d
}

// TestGrafanaDashboard checks the dashboard in deploy/grafana: a stable uid, a data
// source variable every panel uses, unique panel ids within Grafana's 24-column grid,
// queries with unique refIds, and no query of a metric Signet does not export.
func TestGrafanaDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want a uid, a title and schema 36 or later", d.UID, d.Title, d.SchemaVersion)
	}
	hasDatasource := slices.ContainsFunc(d.Templating.List, func(v struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Query any    `json:"query"`
	}) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	})
	if !hasDatasource {
		t.Error("no Prometheus data source variable named datasource")
	}
	defined := definedMetrics(t)
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		where := "panel " + p.Title
		if p.ID == 0 || ids[p.ID] {
			t.Errorf("%s: id %d missing or taken", where, p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v is outside the 24-column grid", where, g)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || p.Datasource.Type != "prometheus" {
			t.Errorf("%s: data source %+v, want the ${datasource} variable", where, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s has no query", where)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			queries++
			if q.Expr == "" || q.RefID == "" || refs[q.RefID] {
				t.Errorf("%s: query %+v has no expression or a missing or repeated refId", where, q)
			}
			refs[q.RefID] = true
			checkMetrics(t, where, q.Expr, defined)
		}
	}
	if queries < 10 {
		t.Errorf("%d queries; the dashboard lost its panels", queries)
	}
}

// TestAlertRules checks deploy/prometheus/signet-alerts.yml: every alert has a severity
// and a summary, and reads only metrics Signet exports (promtool, in CI, checks the
// syntax and runs alerts_test.yml).
func TestAlertRules(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "signet-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	defined := definedMetrics(t)
	var alerts []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s has no severity, summary or description", r.Alert)
			}
			checkMetrics(t, "alert "+r.Alert, r.Expr, defined)
		}
	}
	// What the operations guide promises operators.
	for _, want := range []string{"SignetDown", "SignetNotReady", "SignetHighErrorRate", "SignetPushFailures", "SignetCertificateExpiresSoon"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s", want)
		}
	}
}

// TestDashboardQueriesParse runs every dashboard query through promtool as a recording
// rule, with Grafana's variables given values, so a query that does not parse fails here
// rather than on an operator's screen. CI installs promtool (Debian's prometheus).
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install prometheus); CI installs it")
	}
	d := readDashboard(t)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rs []rule
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			expr := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*").Replace(q.Expr)
			rs = append(rs, rule{Record: "dashboard:query", Expr: expr})
		}
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rs}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool refuses a dashboard query: %v\n%s", err, msg)
	}
}
