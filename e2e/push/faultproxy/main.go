// Command faultproxy sits between a push and a registry in rules_img's
// end-to-end tests. It counts what goes through (upload bytes, blob
// uploads per digest) and, when asked, injects faults: 5xx answers, 429
// with Retry-After, and connections reset in the middle of an upload.
//
//	faultproxy -target http://127.0.0.1:5000 -addr-file addr -faults 60
//	curl http://ADDR/__stats     # JSON counters
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
)

type stats struct {
	mu          sync.Mutex
	UploadBytes int64          `json:"upload_bytes"`
	Uploads     map[string]int `json:"uploads"`   // completed blob uploads per digest
	BlobGets    map[string]int `json:"blob_gets"` // GET of blobs per digest
	Faults      map[string]int `json:"faults"`
	Requests    int            `json:"requests"`
}

type proxy struct {
	next      http.Handler
	stats     *stats
	maxFaults int
	rate      float64
	rng       *rand.Rand
}

func main() {
	target := flag.String("target", "", "registry URL")
	addrFile := flag.String("addr-file", "", "write the listening host:port here")
	maxFaults := flag.Int("faults", 0, "faults to inject in all")
	rate := flag.Float64("rate", 0.3, "chance that a request takes a fault")
	seed := flag.Uint64("seed", 1, "seed of the fault choice")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || *target == "" {
		log.Fatalf("-target: %v", err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &proxy{next: rp, maxFaults: *maxFaults, rate: *rate, rng: rand.New(rand.NewPCG(*seed, 0)), stats: &stats{
		Uploads: map[string]int{}, BlobGets: map[string]int{}, Faults: map[string]int{},
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	log.Fatal(http.Serve(ln, p))
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/__stats" {
		p.stats.mu.Lock()
		defer p.stats.mu.Unlock()
		json.NewEncoder(w).Encode(p.stats)
		return
	}
	upload := strings.Contains(r.URL.Path, "/blobs/uploads/")
	p.stats.mu.Lock()
	p.stats.Requests++
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
		p.stats.BlobGets[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]]++
	}
	fault := p.pickFault(r, upload)
	p.stats.mu.Unlock()
	if fault != "" && p.inject(fault, w, r) {
		return
	}
	if r.Body != nil && upload {
		r.Body = &countingBody{ReadCloser: r.Body, stats: p.stats}
	}
	rec := &statusRecorder{ResponseWriter: w}
	p.next.ServeHTTP(rec, r)
	if upload && r.Method == http.MethodPut && rec.status == http.StatusCreated {
		p.stats.mu.Lock()
		p.stats.Uploads[r.URL.Query().Get("digest")]++
		p.stats.mu.Unlock()
	}
}

// pickFault decides, under the lock, whether this request gets a fault.
func (p *proxy) pickFault(r *http.Request, upload bool) string {
	total := 0
	for _, n := range p.stats.Faults {
		total += n
	}
	if total >= p.maxFaults || r.URL.Path == "/v2/" {
		return ""
	}
	if p.rng.Float64() >= p.rate {
		return ""
	}
	kinds := []string{"500", "503", "429"}
	if upload && (r.Method == http.MethodPatch || r.Method == http.MethodPut) && r.ContentLength != 0 {
		kinds = append(kinds, "reset", "reset")
	}
	kind := kinds[p.rng.IntN(len(kinds))]
	p.stats.Faults[kind]++
	return kind
}

// inject answers with the fault; false when it could not.
func (p *proxy) inject(kind string, w http.ResponseWriter, r *http.Request) bool {
	switch kind {
	case "429":
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"injected"}]}`, http.StatusTooManyRequests)
	case "500":
		http.Error(w, "injected", http.StatusInternalServerError)
	case "503":
		http.Error(w, "injected", http.StatusServiceUnavailable)
	case "reset":
		// Read part of the upload, then drop the connection.
		io.CopyN(io.Discard, r.Body, 1024)
		hj, ok := w.(http.Hijacker)
		if !ok {
			return false
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return false
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			tcp.SetLinger(0) // RST, not FIN
		}
		conn.Close()
	default:
		panic(fmt.Sprintf("unknown fault %q", kind))
	}
	return true
}

type countingBody struct {
	io.ReadCloser
	stats *stats
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.stats.mu.Lock()
	b.stats.UploadBytes += int64(n)
	b.stats.mu.Unlock()
	return n, err
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}
