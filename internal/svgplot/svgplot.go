// Package svgplot draws a metrics history plot (internal/ops/history) as a small inline
// SVG for the admin console: drawn on the server, no script, and no inline style (no
// style attribute, no <style> element), so it lives under a style-src 'self' CSP.
//
// The drawing carries presentation attributes that make it readable as it is: every
// colour has at least 4.5:1 contrast on white (WCAG AA for text), and the lines differ by
// dash pattern too, for readers who cannot tell the colours apart. A stylesheet can
// restyle it through these classes (CSS rules override presentation attributes):
//
//	plot             the <svg> element
//	plot-grid        horizontal grid lines at the y ticks
//	plot-axis        the x and y axis lines
//	plot-tick        tick labels: values on the y axis, HH:MM times (UTC) on the x axis
//	plot-line        the <g> of one line's <polyline>s, also classed plot-line-0 … plot-line-7
//	                 (by the line's index, modulo 8); its colour is the color property
//	                 (stroke and fill are currentColor), so .plot-line-3 { color: … } recolours it
//	plot-point       a point with missing neighbours on both sides, drawn as a <circle>
//	plot-legend-key  the short line before a legend entry, also classed plot-line-N
//	plot-legend      legend text
//	plot-empty       the "no data yet" text of a plot without points
package svgplot

import (
	"encoding/xml"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signet-auth/signet/internal/ops/history"
)

// Defaults and limits of Options.
const (
	DefaultWidth  = 480
	DefaultHeight = 160
	MinWidth      = 160
	MinHeight     = 80
)

// Options size and name a rendering.
type Options struct {
	// Width and Height are the drawing's size in user units (the viewBox); it scales to
	// its container's width. DefaultWidth and DefaultHeight if zero. A legend with many
	// entries makes the drawing taller than Height rather than squash the plot.
	Width, Height int
	// ID prefixes the ids of the <title> and <desc> the <svg> is labelled by; they must
	// be unique in the page. "plot-" and the plot's name if empty.
	ID string
}

// The line styles, by index: colours of at least 4.5:1 contrast on white, from Paul
// Tol's and Okabe and Ito's colour-blind-safe palettes (darkened where needed), and
// dash patterns so that no two lines rely on colour alone.
var (
	colours = [...]string{"#0072B2", "#B35900", "#AA3377", "#117733", "#332288", "#8C6D00", "#CC3311", "#555555"}
	dashes  = [...]string{"", "6 3", "2 2", "8 3 2 3", "1 3", "10 4", "4 2 1 2 1 2", "12 3 3 3"}
)

const (
	textColour  = "#1A1A1A" // 17:1 on white
	tickColour  = "#595959" // 7:1 on white
	axisColour  = "#767676"
	gridColour  = "#E0E0E0"
	fontSize    = 10
	charWidth   = 6 // rough advance of one character at fontSize, for laying out text
	padTop      = 8
	padLeft     = 44 // room for the y tick labels
	padRight    = 20 // room for half an x label at the right edge
	padBottom   = 4
	tickRow     = 14 // the x labels
	legendRow   = 14
	keyWidth    = 16 // the line before a legend entry
	maxLabel    = 24 // runes of a label shown in the legend
	minPlotSize = 40 // smallest height of the plot area
)

// Render draws p as a self-contained <svg> element. Missing points, and values that
// are NaN or infinite, are gaps in their line.
func Render(p history.Plot, opts Options) (template.HTML, error) {
	w, h := opts.Width, opts.Height
	if w == 0 {
		w = DefaultWidth
	}
	if h == 0 {
		h = DefaultHeight
	}
	if w < MinWidth || h < MinHeight {
		return "", fmt.Errorf("svgplot: size %dx%d is below the minimum %dx%d", w, h, MinWidth, MinHeight)
	}
	id := opts.ID
	if id == "" {
		id = "plot-" + p.Name
	}
	id = sanitizeID(id)
	title := p.Title
	if title == "" {
		title = p.Name
	}

	var b strings.Builder
	d := drawing{b: &b, w: float64(w)}
	t0, t1, ok := timeRange(p)
	if !ok {
		d.open(w, h, id, title, "No data yet.")
		fmt.Fprintf(&b, `<text class="plot-empty" x="%d" y="%d" text-anchor="middle" fill="%s">no data yet</text>`,
			w/2, h/2, tickColour)
		b.WriteString(`</svg>`)
		return template.HTML(b.String()), nil
	}

	legend := layoutLegend(p.Lines, float64(w))
	legendH := float64(legend.rows * legendRow)
	d.top = padTop
	d.bottom = float64(h) - padBottom - legendH - tickRow
	if d.bottom-d.top < minPlotSize {
		d.bottom = d.top + minPlotSize
		h = int(math.Ceil(d.bottom + tickRow + legendH + padBottom))
	}
	d.left, d.right = padLeft, float64(w)-padRight
	d.t0, d.t1 = t0, t1
	d.y = newYScale(p.Lines)

	d.open(w, h, id, title, describe(p, title, t0, t1))
	d.yAxis()
	d.xAxis()
	for i, l := range p.Lines {
		d.line(i, l)
	}
	d.legend(legend)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()), nil
}

// drawing is one rendering in progress.
type drawing struct {
	b                        *strings.Builder
	w                        float64
	left, right, top, bottom float64 // the plot area
	t0, t1                   time.Time
	y                        yScale
}

func (d *drawing) open(w, h int, id, title, desc string) {
	fmt.Fprintf(d.b, `<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 %d %d" width="100%%" `+
		`preserveAspectRatio="xMidYMid meet" role="img" aria-labelledby="%s-title %s-desc" `+
		`font-family="system-ui, sans-serif" font-size="%d">`, w, h, id, id, fontSize)
	fmt.Fprintf(d.b, `<title id="%s-title">%s</title><desc id="%s-desc">%s</desc>`, id, escape(title), id, escape(desc))
}

// x is the horizontal position of t.
func (d *drawing) x(t time.Time) float64 {
	return d.left + (d.right-d.left)*t.Sub(d.t0).Seconds()/d.t1.Sub(d.t0).Seconds()
}

// yOf is the vertical position of v, and whether it can be drawn.
func (d *drawing) yOf(v float64) (float64, bool) {
	f, ok := d.y.frac(v)
	return d.bottom - (d.bottom-d.top)*f, ok
}

func (d *drawing) yAxis() {
	for _, tick := range d.y.ticks() {
		y, ok := d.yOf(tick)
		if !ok {
			continue
		}
		fmt.Fprintf(d.b, `<line class="plot-grid" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`,
			num(d.left), num(y), num(d.right), num(y), gridColour)
		fmt.Fprintf(d.b, `<text class="plot-tick" x="%s" y="%s" text-anchor="end" fill="%s">%s</text>`,
			num(d.left-4), num(y+3), tickColour, escape(Compact(tick)))
	}
	fmt.Fprintf(d.b, `<line class="plot-axis" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`,
		num(d.left), num(d.top), num(d.left), num(d.bottom), axisColour)
}

// xIntervals are the spacings of x labels, on whole minutes and hours of UTC.
var xIntervals = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

func (d *drawing) xAxis() {
	fmt.Fprintf(d.b, `<line class="plot-axis" x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="1"/>`,
		num(d.left), num(d.bottom), num(d.right), num(d.bottom), axisColour)
	labelY := num(d.bottom + tickRow - 3)
	// The time zone once, at the left edge, clear of a time label centred on the y axis.
	fmt.Fprintf(d.b, `<text class="plot-tick" x="2" y="%s" fill="%s">UTC</text>`, labelY, tickColour)

	span := d.t1.Sub(d.t0)
	most := max(2, int((d.right-d.left)/60)) // labels that fit, at ~60 units each
	every := xIntervals[len(xIntervals)-1]
	for _, iv := range xIntervals {
		if int(span/iv)+1 <= most {
			every = iv
			break
		}
	}
	if int(span/every)+1 > most {
		every = (span / time.Duration(most-1)).Truncate(time.Hour) + time.Hour
	}
	labels := 0
	// Truncate counts from the zero time, so whole minutes and hours (up to a day) of UTC.
	for t := d.t0.Truncate(every); !t.After(d.t1); t = t.Add(every) {
		if t.Before(d.t0) {
			continue
		}
		d.xLabel(t, labelY)
		labels++
	}
	if labels == 0 { // a range within one minute
		d.xLabel(d.t1, labelY)
	}
}

func (d *drawing) xLabel(t time.Time, y string) {
	fmt.Fprintf(d.b, `<text class="plot-tick" x="%s" y="%s" text-anchor="middle" fill="%s">%s</text>`,
		num(d.x(t)), y, tickColour, t.UTC().Format("15:04"))
}

// line draws one line: a polyline per run of present points, a circle for a point
// alone between gaps.
func (d *drawing) line(i int, l history.Line) {
	fmt.Fprintf(d.b, `<g class="plot-line plot-line-%d" color="%s" fill="none" stroke="currentColor" stroke-width="1.75" `+
		`stroke-linejoin="round" stroke-linecap="round"%s>`, i%len(colours), colours[i%len(colours)], dashAttr(i))
	var run []string
	flush := func() {
		switch len(run) {
		case 0:
		case 1:
			x, y, _ := strings.Cut(run[0], ",")
			fmt.Fprintf(d.b, `<circle class="plot-point" cx="%s" cy="%s" r="2" fill="currentColor" stroke="none"/>`, x, y)
		default:
			fmt.Fprintf(d.b, `<polyline points="%s"/>`, strings.Join(run, " "))
		}
		run = run[:0]
	}
	for _, pt := range l.Points {
		y, ok := d.yOf(pt.V)
		if pt.Missing || !ok || pt.T.Before(d.t0) || pt.T.After(d.t1) {
			flush()
			continue
		}
		run = append(run, num(d.x(pt.T))+","+num(y))
	}
	flush()
	d.b.WriteString(`</g>`)
}

func dashAttr(i int) string {
	if dash := dashes[i%len(dashes)]; dash != "" {
		return ` stroke-dasharray="` + dash + `"`
	}
	return ""
}

// legendLayout places the legend entries in rows under the x labels.
type legendLayout struct {
	rows    int
	entries []legendEntry
}

type legendEntry struct {
	x     float64
	row   int
	label string
}

func layoutLegend(lines []history.Line, width float64) legendLayout {
	var l legendLayout
	if len(lines) == 0 {
		return l
	}
	x, row := float64(padLeft), 0
	for _, line := range lines {
		label := shorten(displayLabel(line.Label))
		entryW := float64(keyWidth + 4 + utf8.RuneCountInString(label)*charWidth + 12)
		if x > padLeft && x+entryW > width-padRight {
			x, row = padLeft, row+1
		}
		l.entries = append(l.entries, legendEntry{x: x, row: row, label: label})
		x += entryW
	}
	l.rows = row + 1
	return l
}

func (d *drawing) legend(l legendLayout) {
	for i, e := range l.entries {
		y := d.bottom + tickRow + float64(e.row*legendRow) + legendRow - 3
		fmt.Fprintf(d.b, `<line class="plot-legend-key plot-line-%d" x1="%s" y1="%s" x2="%s" y2="%s" color="%s" `+
			`stroke="currentColor" stroke-width="2"%s/>`, i%len(colours), num(e.x), num(y-3), num(e.x+keyWidth), num(y-3),
			colours[i%len(colours)], dashAttr(i))
		fmt.Fprintf(d.b, `<text class="plot-legend" x="%s" y="%s" fill="%s">%s</text>`,
			num(e.x+keyWidth+4), num(y), textColour, escape(e.label))
	}
}

// timeRange is the span of the x axis: the times of the present points (or, when there
// is one, the step before it), false if no point can be drawn.
func timeRange(p history.Plot) (t0, t1 time.Time, ok bool) {
	for _, l := range p.Lines {
		for _, pt := range l.Points {
			if pt.Missing || !finite(pt.V) {
				continue
			}
			if !ok || pt.T.Before(t0) {
				t0 = pt.T
			}
			if !ok || pt.T.After(t1) {
				t1 = pt.T
			}
			ok = true
		}
	}
	if !ok {
		return t0, t1, false
	}
	// Show the whole sampled range, not only where lines have values.
	if !p.Start.IsZero() && p.Start.Before(t0) {
		t0 = p.Start
	}
	if p.End.After(t1) {
		t1 = p.End
	}
	if !t1.After(t0) {
		step := p.Step
		if step <= 0 {
			step = time.Minute
		}
		t0 = t1.Add(-step)
	}
	return t0, t1, true
}

// describe is the <desc>: the plot's title and range, and each line's newest value.
func describe(p history.Plot, title string, t0, t1 time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %s to %s UTC.", title, t0.UTC().Format("15:04"), t1.UTC().Format("15:04"))
	unit := ""
	if p.Unit != "" {
		unit = " " + p.Unit
	}
	for i, l := range p.Lines {
		if i == 0 {
			b.WriteString(" ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(displayLabel(l.Label))
		if n := len(l.Points); n > 0 && !l.Points[n-1].Missing && finite(l.Points[n-1].V) {
			fmt.Fprintf(&b, ": %s%s now", Compact(l.Points[n-1].V), unit)
		} else {
			b.WriteString(": no recent data")
		}
	}
	if len(p.Lines) > 0 {
		b.WriteString(".")
	}
	return b.String()
}

func displayLabel(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func shorten(s string) string {
	if utf8.RuneCountInString(s) <= maxLabel {
		return s
	}
	r := []rune(s)
	return string(r[:maxLabel-1]) + "…"
}

// yScale maps values to [0, 1] of the plot's height. Its range is computed as powers of
// ten times nice steps, so that values near the float64 limits still give finite
// positions.
type yScale struct {
	unit       float64 // a power of ten; the bounds and step are in units of it
	lo, hi     float64
	step       float64
	ticksCount int
}

func newYScale(lines []history.Line) yScale {
	lo, hi := 0.0, 0.0 // the axis always shows zero
	for _, l := range lines {
		for _, pt := range l.Points {
			if pt.Missing || !finite(pt.V) {
				continue
			}
			lo, hi = min(lo, pt.V), max(hi, pt.V)
		}
	}
	unit := 1.0
	if m := max(-lo, hi); m > 0 {
		unit = math.Pow(10, math.Floor(math.Log10(m)))
		if unit == 0 || !finite(unit) {
			unit = 1
		}
	}
	s := yScale{unit: unit, lo: lo / unit, hi: hi / unit}
	if s.hi == s.lo {
		s.hi = s.lo + 1
	}
	s.step = niceStep((s.hi - s.lo) / 4)
	s.lo = math.Floor(s.lo/s.step) * s.step
	s.hi = math.Ceil(s.hi/s.step) * s.step
	s.ticksCount = int(math.Round((s.hi-s.lo)/s.step)) + 1
	return s
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	switch f := x / p; {
	case f <= 1:
		return p
	case f <= 2:
		return 2 * p
	case f <= 5:
		return 5 * p
	}
	return 10 * p
}

func (s yScale) frac(v float64) (float64, bool) {
	if !finite(v) {
		return 0, false
	}
	f := (v/s.unit - s.lo) / (s.hi - s.lo)
	return f, finite(f)
}

func (s yScale) ticks() []float64 {
	ticks := make([]float64, 0, s.ticksCount)
	for i := range s.ticksCount {
		if t := (s.lo + float64(i)*s.step) * s.unit; finite(t) { // near the float64 limit
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// Compact formats v in at most three significant digits with an SI suffix: 0, 0.25,
// 12.5, 999, 1.23k, 45.6M. NaN and infinities, which have no place in a drawing, are
// "n/a".
func Compact(v float64) string {
	if !finite(v) {
		return "n/a"
	}
	if v == 0 {
		return "0"
	}
	a := math.Abs(v)
	const suffixes = "kMGTPE"
	suffix := ""
	for i := 0; a >= 999.5 && i < len(suffixes); i++ {
		a /= 1000
		suffix = suffixes[i : i+1]
	}
	var s string
	switch {
	case a >= 999.5: // beyond the suffixes
		return strconv.FormatFloat(v, 'g', 3, 64)
	case a >= 99.95:
		s = strconv.FormatFloat(a, 'f', 0, 64)
	case a >= 9.995:
		s = strconv.FormatFloat(a, 'f', 1, 64)
	case a >= 0.9995:
		s = strconv.FormatFloat(a, 'f', 2, 64)
	case a >= 0.001:
		s = strconv.FormatFloat(a, 'f', 3, 64)
	default:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if v < 0 {
		s = "-" + s
	}
	return s + suffix
}

// num formats a coordinate to a tenth of a unit.
func num(v float64) string {
	if !finite(v) { // never reached: positions are checked before; but never write NaN
		return "0"
	}
	v = math.Round(v*10) / 10
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// escape escapes s for XML text and attribute values; characters XML cannot carry
// (control characters, invalid UTF-8) become U+FFFD.
func escape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

// sanitizeID keeps the characters an id can carry unescaped in an attribute and in an
// IDREF list (aria-labelledby is space-separated).
func sanitizeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return "plot-" + b.String()
	}
	return b.String()
}
