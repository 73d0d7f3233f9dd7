package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/signet-auth/signet/internal/testutil/axe"
)

// browser is a fresh headless Chromium (its own profile: no session from another
// case), with what its console reported about the CSP or scripts.
type browser struct {
	t        *testing.T
	ctx      context.Context
	js       bool // whether the pages' scripts run
	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, chromium string, js bool, lang string) *browser {
	t.Helper()
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		// The dev CA is the test's own; the browser is told to accept it.
		chromedp.Flag("ignore-certificate-errors", true), chromedp.Flag("lang", lang), chromedp.Flag("accept-lang", lang),
	)...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	b := &browser{t: t, ctx: ctx, js: js}
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *cdplog.EventEntryAdded:
			if strings.Contains(e.Entry.Text, "Content Security Policy") || e.Entry.Level == cdplog.LevelError && e.Entry.Source == cdplog.SourceSecurity {
				b.problems = append(b.problems, e.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			b.problems = append(b.problems, e.ExceptionDetails.Text)
		}
	})
	if err := chromedp.Run(ctx); err != nil { // starts the browser, outliving each step's deadline
		t.Fatal(err)
	}
	b.run(cdplog.Enable(), emulation.SetScriptExecutionDisabled(!js))
	return b
}

// run runs each step within 30 seconds, failing the test with the page at a failure.
func (b *browser) run(steps ...chromedp.Action) {
	b.t.Helper()
	for i, step := range steps {
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		err := chromedp.Run(ctx, step)
		cancel()
		if err != nil {
			var loc, html string
			_ = chromedp.Run(b.ctx, chromedp.Location(&loc), chromedp.OuterHTML("html", &html, chromedp.ByQuery))
			b.t.Fatalf("browser step %d: %v\nat %s\n%s", i, err, loc, html)
		}
	}
}

func (b *browser) checkProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		b.t.Errorf("the browser reported: %q", b.problems)
	}
}

// Viewport of a small phone: the pages must be usable 360 CSS pixels wide.
const narrowWidth, narrowHeight = 360, 740

// narrow makes the browser a small phone (360×740, mobile: the pages' viewport meta
// applies) for this and every later page.
func (b *browser) narrow() {
	b.t.Helper()
	b.run(emulation.SetDeviceMetricsOverride(narrowWidth, narrowHeight, 1, true))
}

// wide ends narrow's emulation: the window is the desktop's again.
func (b *browser) wide() {
	b.t.Helper()
	b.run(emulation.ClearDeviceMetricsOverride())
}

// noHorizontalScroll fails the test when the current page is wider than the window, as
// at 360 px a page that scrolls sideways hides part of every line; it names the elements
// that stick out. The window is the layout viewport (the root's clientWidth): on a
// mobile screen window.innerWidth grows with content that overflows, so comparing with
// it would pass every page.
func (b *browser) noHorizontalScroll() {
	b.t.Helper()
	var got struct {
		ScrollWidth int      `json:"scrollWidth"`
		Width       int      `json:"width"`
		Wide        []string `json:"wide"`
	}
	b.run(chromedp.Evaluate(`(() => {
		const w = document.documentElement.clientWidth;
		const wide = [];
		for (const e of document.body.querySelectorAll("*")) {
			const r = e.getBoundingClientRect();
			if (r.right > w + 0.5 && wide.length < 10) {
				wide.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + String(e.className).trim().split(/\s+/).join(".") : "") + " (right edge " + Math.round(r.right) + ")");
			}
		}
		return {scrollWidth: document.documentElement.scrollWidth, width: w, wide};
	})()`, &got))
	if got.ScrollWidth > got.Width {
		var loc string
		b.run(chromedp.Location(&loc))
		b.t.Errorf("%s scrolls sideways: %d px of content in a %d px window; wider: %s", loc, got.ScrollWidth, got.Width, strings.Join(got.Wide, ", "))
	}
}

// axeRun runs the WCAG 2.1 A and AA rules and the best practices on the whole page and
// keeps of the result what a report needs.
const axeRun = `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
	.then(r => r.violations.map(v => ({
		id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({
			target: n.target.map(t => Array.isArray(t) ? t.join(' >>> ') : String(t)).join(', '),
			summary: n.failureSummary || '',
		})),
	})))`

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	URL    string `json:"helpUrl"`
	Nodes  []struct {
		Target  string `json:"target"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// checkAccessibility runs axe-core on the current page (called page in the report):
// serious and critical violations fail the test, minor and moderate ones are logged.
// The script goes in over the DevTools protocol, which the pages' CSP does not hold
// back (it governs the page's own scripts), and leaves the page as it was.
func (b *browser) checkAccessibility(page string) {
	b.t.Helper()
	var violations []axeViolation
	if !b.js {
		// axe.run's promise settles only where scripts run. Turning them on for the
		// check runs none of the page's own: those ran (or not) as it loaded.
		b.run(emulation.SetScriptExecutionDisabled(false))
	}
	b.run(chromedp.ActionFunc(func(ctx context.Context) error {
		// A page that reloads itself (the phone page's last resort) can go away under
		// the check: run it again on the new page.
		for {
			err := chromedp.Run(ctx,
				chromedp.WaitReady("body", chromedp.ByQuery),
				chromedp.Evaluate("if (typeof axe === 'undefined') {\n"+axe.Script()+"\n}\ntrue", nil),
				chromedp.Evaluate(axeRun, &violations, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
					return p.WithAwaitPromise(true)
				}),
			)
			if err == nil || !contextGone(err) || ctx.Err() != nil {
				return err
			}
		}
	}))
	if !b.js {
		b.run(emulation.SetScriptExecutionDisabled(true))
	}
	var loc string
	b.run(chromedp.Location(&loc))
	for _, v := range violations {
		var targets strings.Builder
		for _, n := range v.Nodes {
			fmt.Fprintf(&targets, "\n\t\t%s", n.Target)
			if n.Summary != "" {
				fmt.Fprintf(&targets, ": %s", strings.ReplaceAll(n.Summary, "\n", " "))
			}
		}
		msg := fmt.Sprintf("%s page (%s): axe %s violation %s: %s (%s)%s", page, loc, v.Impact, v.ID, v.Help, v.URL, targets.String())
		if v.Impact == "serious" || v.Impact == "critical" {
			b.t.Error(msg)
		} else {
			b.t.Log(msg)
		}
	}
}

// contextGone reports whether err says the page navigated away during an evaluation.
func contextGone(err error) bool {
	var exp *runtime.ExceptionDetails
	if errors.As(err, &exp) {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "Execution context was destroyed") || strings.Contains(s, "Cannot find context") ||
		strings.Contains(s, "Inspected target navigated")
}

// screenshot writes the whole current page as <test name>-<name>.png to the artifacts
// directory: $SIGNET_TEST_ARTIFACTS, else test-output/screenshots at the repository root
// (CI keeps the directory).
func (b *browser) screenshot(name string) {
	b.t.Helper()
	var png []byte
	// Quality 100 is what makes chromedp take a PNG rather than a JPEG.
	b.run(chromedp.FullScreenshot(&png, 100))
	dir := artifactsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	file := filepath.Join(dir, unsafeInFileName.ReplaceAllString(b.t.Name()+"-"+name, "_")+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// unsafeInFileName matches what a test's name may hold (subtests' "/", spaces) that a
// file name had better not.
var unsafeInFileName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// artifactsDir is where screenshots go: tests run in their package's directory, two
// below the repository root.
func artifactsDir() string {
	if dir := os.Getenv("SIGNET_TEST_ARTIFACTS"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "test-output", "screenshots")
}
