// Package marionette drives a headless Firefox for browser tests through Marionette,
// Firefox's own remote protocol (the one geckodriver translates WebDriver into), so that
// the tests need Firefox and nothing else.
//
// The wire format (firefox-source-docs, testing/marionette/Protocol): every message is
// its length in bytes, a colon and a JSON value. Firefox greets a new connection with
// {"applicationType":"gecko","marionetteProtocol":3}; a command is
// [0, id, "WebDriver:Name", {params}] and its answer [1, id, error, result].
package marionette

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/testutil"
)

const (
	startTimeout   = 30 * time.Second // Firefox starts and listens
	commandTimeout = 30 * time.Second // one command and its answer
	pageLoad       = 20 * time.Second // Firefox's own limit, inside commandTimeout
	quitTimeout    = 10 * time.Second // Firefox shuts down when asked to
)

// Keys for PressKeys (WebDriver's key codes).
const (
	Tab   = "\uE004"
	Enter = "\uE007"
)

// Browser is one headless Firefox with a fresh profile and a WebDriver session. Its
// methods fail the test with the command's name when Firefox answers with an error;
// one goroutine at a time may use them.
type Browser struct {
	t       testing.TB
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has been waited for
	output  *testutil.SyncBuffer
	conn    net.Conn
	r       *bufio.Reader
	id      int
	closing sync.Once
}

// Start runs firefox (a path) headless with a temporary profile and opens a session that
// accepts the test's self-signed certificates. The browser is closed, its processes
// ended and its profile removed when the test ends.
func Start(t testing.TB, firefox string) *Browser {
	t.Helper()
	profile := t.TempDir() // removed after Close, which Cleanup runs first
	// Port 0: the system picks a free port, and Firefox writes it to MarionetteActivePort
	// in the profile once it listens (firefox-source-docs, testing/marionette/Prefs).
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(`user_pref("marionette.port", 0);`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &Browser{t: t, exited: make(chan struct{}), output: &testutil.SyncBuffer{}}
	// --remote-allow-system-access lets SetViewport resize the tab from the browser's
	// own (chrome) context.
	b.cmd = exec.Command(firefox, "--headless", "--marionette", "--remote-allow-system-access",
		"--no-remote", "--profile", profile)
	b.cmd.Stdout, b.cmd.Stderr = b.output, b.output
	ownProcessGroup(b.cmd)
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start Firefox: %v", err)
	}
	go func() { _ = b.cmd.Wait(); close(b.exited) }()
	t.Cleanup(b.Close)

	if err := b.connect(filepath.Join(profile, "MarionetteActivePort")); err != nil {
		t.Fatalf("Firefox: %v\n%s", err, b.output)
	}
	b.must("WebDriver:NewSession", map[string]any{
		"acceptInsecureCerts": true, // the test servers' certificates come from a test CA
		"pageLoadStrategy":    "normal",
		"timeouts":            map[string]any{"implicit": 0, "pageLoad": pageLoad.Milliseconds(), "script": pageLoad.Milliseconds()},
	})
	return b
}

// connect waits for the port file, connects and reads Firefox's greeting.
func (b *Browser) connect(portFile string) error {
	deadline := time.Now().Add(startTimeout)
	interval := 10 * time.Millisecond
	for {
		conn, err := dial(portFile)
		if err == nil {
			b.conn, b.r = conn, bufio.NewReader(conn)
			break
		}
		select {
		case <-b.exited:
			return fmt.Errorf("exited before listening (%v)", b.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no Marionette port within %s: %v", startTimeout, err)
		}
		time.Sleep(interval)
		if interval < 100*time.Millisecond {
			interval *= 2
		}
	}
	_ = b.conn.SetDeadline(time.Now().Add(commandTimeout))
	raw, err := readMessage(b.r)
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	var hello struct {
		ApplicationType    string `json:"applicationType"`
		MarionetteProtocol int    `json:"marionetteProtocol"`
	}
	if err := json.Unmarshal(raw, &hello); err != nil || hello.ApplicationType != "gecko" || hello.MarionetteProtocol != 3 {
		return fmt.Errorf("unexpected greeting %s", raw)
	}
	return nil
}

// dial connects to the port portFile names. The file may be there but not yet written:
// only a port counts.
func dial(portFile string) (net.Conn, error) {
	raw, err := os.ReadFile(portFile)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("port file reads %q", raw)
	}
	return net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
}

// Error is an error Firefox answered a command with.
type Error struct {
	Code    string `json:"error"` // WebDriver's error code, such as "no such element"
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Call sends one command and returns its result, or the error Firefox answered with.
func (b *Browser) Call(name string, params any) (json.RawMessage, error) {
	return b.call(name, params, commandTimeout)
}

// call is Call with a deadline of timeout for the command and its answer.
func (b *Browser) call(name string, params any, timeout time.Duration) (json.RawMessage, error) {
	if params == nil {
		params = map[string]any{}
	}
	b.id++
	msg, err := json.Marshal([]any{0, b.id, name, params})
	if err != nil {
		return nil, err
	}
	_ = b.conn.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(b.conn, "%d:%s", len(msg), msg); err != nil {
		return nil, err
	}
	for {
		raw, err := readMessage(b.r)
		if err != nil {
			return nil, err
		}
		var reply []json.RawMessage
		if err := json.Unmarshal(raw, &reply); err != nil || len(reply) != 4 {
			return nil, fmt.Errorf("malformed reply %.200s", raw)
		}
		var kind, id int
		if json.Unmarshal(reply[0], &kind) != nil || json.Unmarshal(reply[1], &id) != nil || kind != 1 {
			return nil, fmt.Errorf("malformed reply %.200s", raw)
		}
		if id != b.id {
			continue // the late answer to a command that timed out
		}
		if string(reply[2]) != "null" {
			e := &Error{}
			if err := json.Unmarshal(reply[2], e); err != nil {
				return nil, fmt.Errorf("malformed error %.200s", reply[2])
			}
			return nil, e
		}
		return reply[3], nil
	}
}

// readMessage reads one length-prefixed message.
func readMessage(r *bufio.Reader) ([]byte, error) {
	prefix, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(prefix[:len(prefix)-1])
	if err != nil || n < 0 || n > 64<<20 {
		return nil, fmt.Errorf("bad message length %q", prefix)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// must is Call that fails the test, naming the command and the page it was on.
func (b *Browser) must(name string, params any) json.RawMessage {
	b.t.Helper()
	res, err := b.Call(name, params)
	if err != nil {
		at := "?"
		if u, uerr := b.call("WebDriver:GetCurrentURL", nil, 5*time.Second); uerr == nil {
			at = string(value(u))
		}
		b.t.Fatalf("marionette %s: %v (at %s)", name, err, at)
	}
	return res
}

// value is the "value" member most commands answer with.
func value(res json.RawMessage) json.RawMessage {
	var v struct{ Value json.RawMessage }
	_ = json.Unmarshal(res, &v)
	return v.Value
}

// Navigate loads url and waits for the page's load event.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.must("WebDriver:Navigate", map[string]any{"url": url})
}

// webElement is the key WebDriver names element references with.
const webElement = "element-6066-11e4-a52e-4f735466cecf"

func (b *Browser) find(css string) (string, error) {
	res, err := b.Call("WebDriver:FindElement", map[string]any{"using": "css selector", "value": css})
	if err != nil {
		return "", err
	}
	var ref map[string]string
	if err := json.Unmarshal(value(res), &ref); err != nil || ref[webElement] == "" {
		return "", fmt.Errorf("no element reference in %s", res)
	}
	return ref[webElement], nil
}

// Find returns the reference of the first element matching the CSS selector css.
func (b *Browser) Find(css string) string {
	b.t.Helper()
	id, err := b.find(css)
	if err != nil {
		b.t.Fatalf("marionette WebDriver:FindElement %s: %v", css, err)
	}
	return id
}

// WaitFor polls until an element matches css, and returns its reference; it fails the
// test when none does within timeout.
func (b *Browser) WaitFor(css string, timeout time.Duration) string {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 10 * time.Millisecond
	for {
		id, err := b.find(css)
		if err == nil {
			return id
		}
		if e := (*Error)(nil); !errors.As(err, &e) || e.Code != "no such element" {
			b.t.Fatalf("marionette WebDriver:FindElement %s: %v", css, err)
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no %s within %s at %s", css, timeout, b.URL())
		}
		time.Sleep(interval)
		if interval < 100*time.Millisecond {
			interval *= 2
		}
	}
}

// SendKeys types text into the first element matching css.
func (b *Browser) SendKeys(css, text string) {
	b.t.Helper()
	b.must("WebDriver:ElementSendKeys", map[string]any{"id": b.Find(css), "text": text})
}

// Click clicks the first element matching css; when that starts a navigation, Firefox
// answers once the new page has loaded.
func (b *Browser) Click(css string) {
	b.t.Helper()
	b.must("WebDriver:ElementClick", map[string]any{"id": b.Find(css)})
}

// Text is the rendered text of the first element matching css.
func (b *Browser) Text(css string) string {
	b.t.Helper()
	var s string
	_ = json.Unmarshal(value(b.must("WebDriver:GetElementText", map[string]any{"id": b.Find(css)})), &s)
	return s
}

// Execute runs script as the body of a function in the page, with args as its
// arguments, and returns what it returns.
func (b *Browser) Execute(script string, args ...any) json.RawMessage {
	b.t.Helper()
	if args == nil {
		args = []any{}
	}
	return value(b.must("WebDriver:ExecuteScript", map[string]any{"script": script, "args": args}))
}

// URL is the address of the current page.
func (b *Browser) URL() string {
	b.t.Helper()
	var s string
	_ = json.Unmarshal(value(b.must("WebDriver:GetCurrentURL", nil)), &s)
	return s
}

// PressKeys presses and releases each key in turn (a character, or Tab or Enter) where
// the focus is, as a keyboard would.
func (b *Browser) PressKeys(keys ...string) {
	b.t.Helper()
	var actions []map[string]any
	for _, k := range keys {
		actions = append(actions, map[string]any{"type": "keyDown", "value": k}, map[string]any{"type": "keyUp", "value": k})
	}
	b.must("WebDriver:PerformActions", map[string]any{"actions": []any{
		map[string]any{"type": "key", "id": "keyboard", "actions": actions},
	}})
	b.must("WebDriver:ReleaseActions", nil)
}

// SetWindowRect resizes the window. Headless Firefox keeps a window at least 500 px
// wide; SetViewport makes the page narrower than that.
func (b *Browser) SetWindowRect(width, height int) {
	b.t.Helper()
	b.must("WebDriver:SetWindowRect", map[string]any{"width": width, "height": height})
}

// SetViewport makes the page's viewport width×height CSS pixels, for this and every
// later page, the way WebDriver BiDi's browsingContext.setViewport does in Firefox: it
// sizes the tab's <browser> element from the chrome context. It returns once the page
// sees the new width.
func (b *Browser) SetViewport(width, height int) {
	b.t.Helper()
	b.must("Marionette:SetContext", map[string]any{"value": "chrome"})
	_, err := b.Call("WebDriver:ExecuteScript", map[string]any{"script": `
		const [width, height] = arguments;
		const browser = gBrowser.selectedBrowser;
		browser.style.setProperty("width", width + "px");
		browser.style.setProperty("height", height + "px");
		browser.ownerDocument.synchronouslyUpdateRemoteBrowserDimensions(true);`,
		"args": []any{width, height}})
	b.must("Marionette:SetContext", map[string]any{"value": "content"})
	if err != nil {
		b.t.Fatalf("marionette SetViewport: %v", err)
	}
	deadline := time.Now().Add(commandTimeout)
	for string(b.Execute("return window.innerWidth")) != strconv.Itoa(width) {
		if time.Now().After(deadline) {
			b.t.Fatalf("the page is still %s px wide, not %d", b.Execute("return window.innerWidth"), width)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Close ends the session and Firefox: it asks Firefox to quit, and ends its processes
// when it has not within a deadline. Start arranges for it to run when the test ends.
func (b *Browser) Close() {
	b.closing.Do(func() {
		if b.conn != nil {
			_, _ = b.call("Marionette:Quit", nil, quitTimeout)
			_ = b.conn.Close()
		}
		select {
		case <-b.exited:
		case <-time.After(quitTimeout):
		}
		// Also ends content processes a killed or crashed parent left behind.
		if err := killProcessGroup(b.cmd); err != nil {
			b.t.Errorf("kill Firefox: %v", err)
		}
		select {
		case <-b.exited:
		case <-time.After(quitTimeout):
			b.t.Errorf("Firefox (pid %d) did not exit", b.cmd.Process.Pid)
		}
	})
}
