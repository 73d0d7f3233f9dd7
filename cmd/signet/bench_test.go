package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signet-auth/signet/internal/config"
)

// BenchmarkDevStartup measures a cold `signet serve --dev` (new data directory: dev CA,
// certificates, SQLite file and migrations) from exec to the first 200 from /readyz, and
// the resident memory once it has idled. Each figure is also reported as a ratio to a
// ceiling measured in the same run on the same binary: `signet version` (exec to exit, and
// its peak RSS), so machine noise cancels out.
//
//	go test ./cmd/signet -run '^$' -bench DevStartup -benchtime 5x
func BenchmarkDevStartup(b *testing.B) {
	bin := buildBinary(b)
	var baseNS, baseRSS float64
	for i := 0; i < 5; i++ {
		start := time.Now()
		cmd := exec.Command(bin, "version")
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		baseNS += float64(time.Since(start).Nanoseconds()) / 5
		baseRSS += float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) * 1024 / 5
	}

	var readyNS, rss float64
	for i := 0; i < b.N; i++ {
		ns, r := startOnce(b, bin)
		readyNS += float64(ns) / float64(b.N)
		rss += r / float64(b.N)
	}
	b.ReportMetric(readyNS/1e6, "ms-to-ready")
	b.ReportMetric(rss/(1<<20), "idle-RSS-MiB")
	b.ReportMetric(baseNS/1e6, "ms-version-exec")
	b.ReportMetric(baseRSS/(1<<20), "version-RSS-MiB")
	b.ReportMetric(readyNS/baseNS, "ready/exec")
	b.ReportMetric(rss/baseRSS, "idle-RSS/version-RSS")
}

// startOnce starts one dev server on fixed free loopback ports, returns the time to
// /readyz 200 and the RSS after two seconds idle, and stops it.
func startOnce(b *testing.B, bin string) (time.Duration, float64) {
	dir := b.TempDir()
	env := append(os.Environ(), "SIGNET_DATA_DIR="+filepath.Join(dir, "data"), "SIGNET_LOG_LEVEL=warn")
	ports := freePorts(b, len(config.Endpoints))
	opsAddr := ""
	for i, ep := range config.Endpoints {
		addr := "127.0.0.1:" + strconv.Itoa(ports[i])
		env = append(env, "SIGNET_"+string(ep)+"_ADDR="+addr)
		if ep == config.Ops {
			opsAddr = addr
		}
	}
	cmd := exec.Command(bin, "serve", "--dev")
	cmd.Env = env
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	// The CA does not exist before the server makes it, so this probe skips verification;
	// it only waits for the status code.
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	var ready time.Duration
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := c.Get("https://" + opsAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				ready = time.Since(start)
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("not ready within 30s")
		}
		time.Sleep(time.Millisecond)
	}
	verifyDevCA(b, filepath.Join(dir, "data", "dev-ca", "ca.pem"), opsAddr)
	c.CloseIdleConnections()
	time.Sleep(2 * time.Second) // measuring idle memory needs the server to sit idle
	return ready, rssBytes(b, cmd.Process.Pid)
}

// verifyDevCA checks the readiness probe reached the server we started.
func verifyDevCA(b *testing.B, caFile, addr string) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		b.Fatalf("dev CA does not verify the OPS listener: %v", err)
	}
	conn.Close()
}

func rssBytes(b *testing.B, pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) * 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

func freePorts(b *testing.B, n int) []int {
	var ports []int
	for len(ports) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
		defer ln.Close()
	}
	return ports
}
