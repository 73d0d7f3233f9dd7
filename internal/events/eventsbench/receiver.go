package eventsbench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Receiver is a webhook receiver on loopback, TLS with HTTP/2 as a real receiver would
// offer: it answers every POST 204, counts those to /hooks and notes how long each took
// from the time its event says it was sent. A bench drives it over HTTP (/expect,
// /wait) through a Target, so it may run in the bench's process or in another process
// on another core.
type Receiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	want    int             // deliveries expected since the last /expect
	count   int             // deliveries to /hooks since the last /expect
	lat     []time.Duration // from "sent" to arrival, for events that carry "sent"
	last    time.Time       // the last arrival (or /expect)
	reached chan struct{}   // closed when count reaches want
}

// StartReceiver starts a Receiver on a loopback port; Close stops it.
func StartReceiver() *Receiver {
	r := &Receiver{}
	r.reset(0)
	r.srv = httptest.NewUnstartedServer(r)
	r.srv.EnableHTTP2 = true
	r.srv.StartTLS()
	return r
}

// URL is the receiver's base URL (https://127.0.0.1:port).
func (r *Receiver) URL() string { return r.srv.URL }

// Certificate is the receiver's self-signed certificate, the root a client trusts.
func (r *Receiver) Certificate() *x509.Certificate { return r.srv.Certificate() }

// Target is how a bench in this process reaches the receiver.
func (r *Receiver) Target() Target {
	roots := x509.NewCertPool()
	roots.AddCert(r.Certificate())
	return Target{URL: r.URL(), Roots: roots}
}

// Close stops the receiver.
func (r *Receiver) Close() { r.srv.Close() }

// stallAfter ends a wait in which nothing arrived for this long: the deliveries still
// missing are not coming (or wait for a retry, which a bench must not count).
const stallAfter = 30 * time.Second

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch req.URL.Path {
	case "/hooks":
		r.arrived(readBody(req.Body))
		w.WriteHeader(http.StatusNoContent)
	case "/raw":
		readBody(req.Body)
		w.WriteHeader(http.StatusNoContent)
	case "/expect":
		n, err := strconv.Atoi(req.URL.Query().Get("n"))
		if err != nil || n < 0 || req.Method != http.MethodPost {
			http.Error(w, "POST /expect?n=COUNT", http.StatusBadRequest)
			return
		}
		r.reset(n)
		w.WriteHeader(http.StatusNoContent)
	case "/wait":
		r.wait(w, req)
	default:
		http.NotFound(w, req)
	}
}

// readBody reads a request body to its end and returns its first 4 KiB (a bench
// event's body is a few hundred bytes).
func readBody(body io.Reader) []byte {
	var buf [4096]byte
	n, _ := io.ReadFull(body, buf[:])
	_, _ = io.Copy(io.Discard, body)
	return buf[:n]
}

func (r *Receiver) reset(want int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.want, r.count, r.lat, r.last = want, 0, make([]time.Duration, 0, want), time.Now()
	r.reached = make(chan struct{})
	if want == 0 {
		close(r.reached)
	}
}

func (r *Receiver) arrived(body []byte) {
	now := time.Now()
	sent, hasSent := sentAt(body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count++
	r.last = now
	if hasSent {
		r.lat = append(r.lat, now.Sub(sent))
	}
	if r.count == r.want {
		close(r.reached)
	}
}

// waitResult is what /wait answers.
type waitResult struct {
	Count int `json:"count"`
	// Latencies are in microseconds, in order of arrival.
	Latencies []int64 `json:"latencies_us"`
}

// wait answers once the expected deliveries have arrived, or once none has for
// stallAfter, with what arrived.
func (r *Receiver) wait(w http.ResponseWriter, req *http.Request) {
	for {
		r.mu.Lock()
		reached, idle := r.reached, time.Until(r.last.Add(stallAfter))
		r.mu.Unlock()
		if idle <= 0 {
			break
		}
		t := time.NewTimer(idle)
		select {
		case <-reached:
			t.Stop()
		case <-req.Context().Done():
			t.Stop()
			return
		case <-t.C:
			continue
		}
		break
	}
	r.mu.Lock()
	res := waitResult{Count: r.count, Latencies: make([]int64, len(r.lat))}
	for i, d := range r.lat {
		res.Latencies[i] = d.Microseconds()
	}
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// sentKey marks, in an event's data, when the bench sent it (Unix nanoseconds): the
// receiver may run in another process, so the time travels with the event.
var sentKey = []byte(`"sent":`)

// sentAt reads the "sent" time from a delivery's body.
func sentAt(body []byte) (time.Time, bool) {
	i := bytes.Index(body, sentKey)
	if i < 0 {
		return time.Time{}, false
	}
	digits := body[i+len(sentKey):]
	n := 0
	for n < len(digits) && '0' <= digits[n] && digits[n] <= '9' {
		n++
	}
	ns, err := strconv.ParseInt(string(digits[:n]), 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// Target is a Receiver as a bench reaches it: its base URL and the roots its
// certificate chains to.
type Target struct {
	URL   string
	Roots *x509.CertPool
}

// control drives a Receiver over a connection of its own, so the bench's deliveries
// and plain POSTs have theirs to themselves.
type control struct {
	base   string
	client *http.Client
}

func (t Target) control() *control {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: t.Roots, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
	return &control{base: t.URL, client: &http.Client{Transport: tr}}
}

func (c *control) close() { c.client.CloseIdleConnections() }

// expect resets the receiver's count and latencies and tells it how many deliveries to
// wait for.
func (c *control) expect(ctx context.Context, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.do(ctx, http.MethodPost, "/expect?n="+strconv.Itoa(n))
	return err
}

// wait returns what arrived once the expected deliveries have, or once none has for
// stallAfter.
func (c *control) wait(ctx context.Context) (waitResult, error) {
	body, err := c.do(ctx, http.MethodGet, "/wait")
	if err != nil {
		return waitResult{}, err
	}
	var res waitResult
	if err := json.Unmarshal(body, &res); err != nil {
		return waitResult{}, fmt.Errorf("receiver wait: %w", err)
	}
	return res, nil
}

func (c *control) do(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.base, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("receiver %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode/100 != 2 {
		err = errors.New(resp.Status)
	}
	if err != nil {
		return nil, fmt.Errorf("receiver %s: %w", path, err)
	}
	return body, nil
}
