package svgplot_test

import (
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-auth/signet/internal/ops/history"
	"github.com/signet-auth/signet/internal/svgplot"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// points makes a line's points a minute apart from t0; NaN is a missing point.
func points(vs ...float64) []history.Point {
	pts := make([]history.Point, len(vs))
	for i, v := range vs {
		pts[i] = history.Point{T: t0.Add(time.Duration(i) * time.Minute), V: v, Missing: math.IsNaN(v)}
	}
	return pts
}

func plotOf(lines ...history.Line) history.Plot {
	p := history.Plot{Name: "signins", Title: "Sign-ins per minute by outcome", Unit: "per minute",
		Step: time.Minute, Lines: lines}
	for _, l := range lines {
		if n := len(l.Points); n > 0 {
			p.Start, p.End = l.Points[0].T, l.Points[n-1].T
		}
	}
	return p
}

// element is a parsed XML element.
type element struct {
	name     string
	attr     map[string]string
	text     string
	children []*element
}

// parse decodes the whole output strictly, as XML, and returns its one root element.
func parse(t *testing.T, out template.HTML) *element {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(out)))
	var root *element
	var stack []*element
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("output is not XML: %v\n%s", err, out)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := &element{name: tok.Name.Local, attr: map[string]string{}}
			for _, a := range tok.Attr {
				e.attr[a.Name.Local] = a.Value
			}
			if len(stack) == 0 {
				if root != nil {
					t.Fatalf("more than one root element:\n%s", out)
				}
				root = e
			} else {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if strings.TrimSpace(string(tok)) != "" {
					t.Fatalf("text outside the root: %q", tok)
				}
				continue
			}
			stack[len(stack)-1].text += string(tok)
		default:
			t.Fatalf("unexpected %T in output", tok)
		}
	}
	if root == nil || root.name != "svg" {
		t.Fatalf("root is not <svg>:\n%s", out)
	}
	return root
}

// all returns the elements named name, in document order.
func (e *element) all(name string) []*element {
	var found []*element
	if e.name == name {
		found = append(found, e)
	}
	for _, c := range e.children {
		found = append(found, c.all(name)...)
	}
	return found
}

func (e *element) byID(id string) *element {
	if e.attr["id"] == id {
		return e
	}
	for _, c := range e.children {
		if f := c.byID(id); f != nil {
			return f
		}
	}
	return nil
}

func texts(e *element, class string) []string {
	var ts []string
	for _, t := range e.all("text") {
		if t.attr["class"] == class {
			ts = append(ts, t.text)
		}
	}
	return ts
}

func render(t *testing.T, p history.Plot, opts svgplot.Options) (template.HTML, *element) {
	t.Helper()
	out, err := svgplot.Render(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSafe(t, out)
	return out, parse(t, out)
}

// checkSafe asserts what every output must satisfy: no inline style (the console's CSP
// forbids it) and only finite numbers.
func checkSafe(t *testing.T, out template.HTML) {
	t.Helper()
	s := string(out)
	if strings.Contains(s, "style=") || strings.Contains(s, "<style") {
		t.Errorf("inline style in output:\n%s", s)
	}
	if l := strings.ToLower(s); strings.Contains(l, "nan") || strings.Contains(l, "inf") {
		t.Errorf("NaN or Inf in output:\n%s", s)
	}
	root := parse(t, out)
	var walk func(e *element)
	walk = func(e *element) {
		for _, name := range []string{"x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "stroke-width"} {
			if v, ok := e.attr[name]; ok {
				if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
					t.Errorf("<%s %s=%q>", e.name, name, v)
				}
			}
		}
		for _, xy := range strings.Fields(e.attr["points"]) {
			for _, v := range strings.Split(xy, ",") {
				if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
					t.Errorf("polyline point %q", xy)
				}
			}
		}
		for _, c := range e.children {
			walk(c)
		}
	}
	walk(root)
}

func TestRender(t *testing.T) {
	t.Parallel()
	p := plotOf(
		history.Line{Label: "approved", Points: points(3, 5, 8, 12)},
		history.Line{Label: "denied", Points: points(0, 1, 0, 1.5)},
	)
	_, svg := render(t, p, svgplot.Options{})

	if svg.attr["viewBox"] != "0 0 480 160" || svg.attr["width"] != "100%" || svg.attr["role"] != "img" {
		t.Errorf("svg attributes %v", svg.attr)
	}
	ids := strings.Fields(svg.attr["aria-labelledby"])
	if len(ids) != 2 {
		t.Fatalf("aria-labelledby %q", svg.attr["aria-labelledby"])
	}
	title, desc := svg.byID(ids[0]), svg.byID(ids[1])
	if title == nil || title.name != "title" || title.text != "Sign-ins per minute by outcome" {
		t.Errorf("labelled by %+v, want the title", title)
	}
	if desc == nil || desc.name != "desc" {
		t.Fatalf("described by %+v, want the desc", desc)
	}
	want := "Sign-ins per minute by outcome, 12:00 to 12:03 UTC. approved: 12 per minute now; denied: 1.5 per minute now."
	if desc.text != want {
		t.Errorf("desc %q, want %q", desc.text, want)
	}
	if n := len(svg.all("polyline")); n != 2 {
		t.Errorf("%d polylines, want 2", n)
	}
	if got := texts(svg, "plot-legend"); strings.Join(got, ",") != "approved,denied" {
		t.Errorf("legend %v", got)
	}
	ticks := strings.Join(texts(svg, "plot-tick"), " ")
	for _, want := range []string{"0", "5", "15", "UTC", "12:00", "12:01", "12:03"} {
		if !strings.Contains(" "+ticks+" ", " "+want+" ") {
			t.Errorf("tick labels %q lack %q", ticks, want)
		}
	}

	// Each line has its class, colour and a dash pattern of its own.
	var groups []*element
	for _, g := range svg.all("g") {
		if strings.HasPrefix(g.attr["class"], "plot-line ") {
			groups = append(groups, g)
		}
	}
	if len(groups) != 2 || groups[0].attr["class"] != "plot-line plot-line-0" || groups[1].attr["class"] != "plot-line plot-line-1" {
		t.Fatalf("line groups %v", groups)
	}
	if groups[0].attr["color"] == groups[1].attr["color"] || groups[0].attr["stroke-dasharray"] == groups[1].attr["stroke-dasharray"] {
		t.Errorf("lines look alike: %v, %v", groups[0].attr, groups[1].attr)
	}
}

func TestRenderGaps(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	p := plotOf(history.Line{Label: "a", Points: points(1, 2, nan, 3, 4, nan, 5, math.Inf(1), 6, 7)})
	p.Lines[0].Points[2].Missing = false // a NaN value without Missing set is a gap all the same
	_, svg := render(t, p, svgplot.Options{})
	polylines := svg.all("polyline")
	if len(polylines) != 3 {
		t.Fatalf("%d polylines, want 3 (runs 1-2, 3-4, 6-7)", len(polylines))
	}
	for i, pl := range polylines {
		if n := len(strings.Fields(pl.attr["points"])); n != 2 {
			t.Errorf("polyline %d has %d points, want 2", i, n)
		}
	}
	if n := len(svg.all("circle")); n != 1 {
		t.Errorf("%d circles, want 1 (the 5 alone between gaps)", n)
	}
	// The runs are in time order, left to right.
	x := func(pl *element) float64 {
		f, _ := strconv.ParseFloat(strings.Split(strings.Fields(pl.attr["points"])[0], ",")[0], 64)
		return f
	}
	if !(x(polylines[0]) < x(polylines[1]) && x(polylines[1]) < x(polylines[2])) {
		t.Errorf("runs out of order: %v %v %v", x(polylines[0]), x(polylines[1]), x(polylines[2]))
	}
}

func TestRenderEscapes(t *testing.T) {
	t.Parallel()
	evil := `<script>&"'`
	p := plotOf(history.Line{Label: evil, Points: points(1, 2)})
	p.Title = `</title><script>alert(1)</script>`
	out, svg := render(t, p, svgplot.Options{ID: `x" onload="alert(1)`})
	if strings.Contains(string(out), "<script") || strings.Contains(string(out), `" onload`) {
		t.Fatalf("unescaped text in output:\n%s", out)
	}
	if got := texts(svg, "plot-legend"); len(got) != 1 || got[0] != evil {
		t.Errorf("legend %q, want %q", got, evil)
	}
	if n := len(svg.all("script")); n != 0 {
		t.Errorf("%d script elements", n)
	}
	if got := svg.all("title")[0].text; got != p.Title {
		t.Errorf("title %q", got)
	}
	if got := svg.all("desc")[0].text; !strings.Contains(got, evil+": 2 per minute now") {
		t.Errorf("desc %q", got)
	}
	for _, id := range strings.Fields(svg.attr["aria-labelledby"]) {
		if svg.byID(id) == nil {
			t.Errorf("aria-labelledby names %q, which is not an id", id)
		}
	}

	// Control characters, which XML cannot carry at all, are replaced.
	p = plotOf(history.Line{Label: "a\x00b\x1bc", Points: points(1, 2)})
	render(t, p, svgplot.Options{})
}

func TestRenderNonFinite(t *testing.T) {
	t.Parallel()
	for name, vs := range map[string][]float64{
		"nan and inf":   {math.NaN(), math.Inf(1), 3, math.Inf(-1), 4},
		"only nan":      {math.NaN(), math.NaN()},
		"huge":          {math.MaxFloat64, -math.MaxFloat64, math.MaxFloat64},
		"tiny":          {math.SmallestNonzeroFloat64, 0, -math.SmallestNonzeroFloat64},
		"flat":          {5, 5, 5},
		"negative":      {-3, -1e6, -2},
		"zero":          {0, 0},
		"one point":     {7},
		"non-monotonic": {1, 2},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := plotOf(history.Line{Label: "x", Points: points(vs...)})
			if name == "non-monotonic" {
				p.Lines[0].Points[1].T = t0.Add(-time.Minute)
			}
			render(t, p, svgplot.Options{})
		})
	}
}

func TestRenderEmpty(t *testing.T) {
	t.Parallel()
	for name, p := range map[string]history.Plot{
		"no lines":       {Name: "devices", Title: "Connected devices"},
		"all missing":    plotOf(history.Line{Label: "a", Points: points(math.NaN(), math.NaN())}),
		"no points":      plotOf(history.Line{Label: "a"}),
		"zero plot":      {},
		"no title, name": {Name: "x"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, svg := render(t, p, svgplot.Options{})
			if got := texts(svg, "plot-empty"); len(got) != 1 || got[0] != "no data yet" {
				t.Errorf("texts %v, want no data yet", got)
			}
			if n := len(svg.all("polyline")); n != 0 {
				t.Errorf("%d polylines", n)
			}
			if len(svg.all("title")) != 1 || len(svg.all("desc")) != 1 || svg.attr["role"] != "img" {
				t.Errorf("empty plot lacks title, desc or role: %v", svg.attr)
			}
		})
	}
}

func TestRenderSize(t *testing.T) {
	t.Parallel()
	p := plotOf(history.Line{Label: "a", Points: points(1, 2)})
	_, svg := render(t, p, svgplot.Options{Width: 320, Height: 120})
	if got := svg.attr["viewBox"]; got != "0 0 320 120" {
		t.Errorf("viewBox %q", got)
	}
	if _, err := svgplot.Render(p, svgplot.Options{Width: 10, Height: 10}); err == nil {
		t.Error("10x10: no error")
	}

	// Eight long labels wrap the legend, and the drawing grows rather than squash the plot.
	var lines []history.Line
	for i := range history.MaxLines {
		lines = append(lines, history.Line{Label: fmt.Sprintf("a-rather-long-label-%d", i), Points: points(float64(i), 1)})
	}
	_, svg = render(t, plotOf(lines...), svgplot.Options{Width: 240, Height: 100})
	var w, h int
	if _, err := fmt.Sscanf(svg.attr["viewBox"], "0 0 %d %d", &w, &h); err != nil || w != 240 || h <= 100 {
		t.Errorf("viewBox %q, want 240 wide and taller than 100", svg.attr["viewBox"])
	}
	if n := len(texts(svg, "plot-legend")); n != history.MaxLines {
		t.Errorf("%d legend entries", n)
	}
}

func TestRenderTimesInUTC(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	p := history.Plot{Name: "g", Lines: []history.Line{{Label: "g", Points: []history.Point{
		{T: t0.In(zone), V: 1}, {T: t0.Add(30 * time.Minute).In(zone), V: 2}, {T: t0.Add(time.Hour).In(zone), V: 3},
	}}}}
	_, svg := render(t, p, svgplot.Options{})
	ticks := texts(svg, "plot-tick")
	if !contains(ticks, "12:00") || !contains(ticks, "13:00") || contains(ticks, "17:30") {
		t.Errorf("tick labels %v, want UTC times", ticks)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestRenderIDs(t *testing.T) {
	t.Parallel()
	p := plotOf(history.Line{Label: "a", Points: points(1, 2)})
	_, a := render(t, p, svgplot.Options{})
	p.Name = "push failures"
	_, b := render(t, p, svgplot.Options{})
	if a.attr["aria-labelledby"] == b.attr["aria-labelledby"] {
		t.Errorf("two plots share ids %q", a.attr["aria-labelledby"])
	}
	if ids := strings.Fields(b.attr["aria-labelledby"]); len(ids) != 2 || b.byID(ids[0]) == nil {
		t.Errorf("ids %q", b.attr["aria-labelledby"])
	}
}

// TestRenderHistory draws the default plots from a real history.
func TestRenderHistory(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "signet_authn_outcomes_total", Help: "h"},
		[]string{"kind", "outcome"})
	reg.MustRegister(outcomes)
	now := t0
	h := history.New(reg, history.Options{Now: func() time.Time { return now }})
	for i := range 5 {
		outcomes.WithLabelValues("push_login", "approved").Add(float64(i))
		outcomes.WithLabelValues("ciba", "denied").Add(1)
		if err := h.Sample(); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
	}
	for _, p := range h.Plots() {
		_, svg := render(t, p, svgplot.Options{})
		want := 0
		if p.Name == "signins" {
			want = 2
		}
		if n := len(svg.all("polyline")); n != want {
			t.Errorf("%s: %d polylines, want %d", p.Name, n, want)
		}
	}
}

func TestCompact(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {1, "1"}, {0.25, "0.25"}, {1.5, "1.5"}, {12.5, "12.5"},
		{999, "999"}, {999.4, "999"}, {999.5, "1k"}, {1234, "1.23k"}, {12_345, "12.3k"},
		{1_000_000, "1M"}, {45_600_000, "45.6M"}, {-1234, "-1.23k"}, {0.005, "0.005"},
		{0.0001, "0.0001"}, {1e20, "100E"}, {1e30, "1e+30"},
		{math.NaN(), "n/a"}, {math.Inf(1), "n/a"}, {math.Inf(-1), "n/a"},
	} {
		if got := svgplot.Compact(c.v); got != c.want {
			t.Errorf("Compact(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	var lines []history.Line
	for i := range history.MaxLines {
		vs := make([]float64, history.DefaultKeep)
		for j := range vs {
			vs[j] = float64(i*j%17) * 1.5
		}
		lines = append(lines, history.Line{Label: fmt.Sprint("line-", i), Points: points(vs...)})
	}
	p := plotOf(lines...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svgplot.Render(p, svgplot.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
