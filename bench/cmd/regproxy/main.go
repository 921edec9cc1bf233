// Command regproxy is a reverse proxy in front of a registry that counts
// requests and bytes by method, for benchmarks that compare pushers by
// what reaches the registry. GET /_stats gives the counts as JSON;
// POST /_reset zeroes them.
//
//	regproxy --upstream 127.0.0.1:5000 --addr_file FILE
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
)

// counts are one method's totals.
type counts struct {
	Requests      int64 `json:"requests"`
	RequestBytes  int64 `json:"request_bytes"`
	ResponseBytes int64 `json:"response_bytes"`
}

type stats struct {
	mu       sync.Mutex
	byMethod map[string]*counts
}

func (s *stats) get(method string) *counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byMethod[method]
	if !ok {
		c = &counts{}
		s.byMethod[method] = c
	}
	return c
}

type countingReader struct {
	r io.ReadCloser
	n *int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	atomic.AddInt64(c.n, int64(n))
	return n, err
}
func (c countingReader) Close() error { return c.r.Close() }

type countingWriter struct {
	http.ResponseWriter
	n *int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	atomic.AddInt64(c.n, int64(n))
	return n, err
}

func (c countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func main() {
	upstream := flag.String("upstream", "", "host:port of the registry")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	addrFile := flag.String("addr_file", "", "write the address listened on here")
	flag.Parse()
	target, err := url.Parse("http://" + *upstream)
	if err != nil || *upstream == "" {
		log.Fatalf("--upstream: %q", *upstream)
	}
	st := &stats{byMethod: map[string]*counts{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_stats", func(w http.ResponseWriter, _ *http.Request) {
		st.mu.Lock()
		defer st.mu.Unlock()
		json.NewEncoder(w).Encode(st.byMethod)
	})
	mux.HandleFunc("POST /_reset", func(w http.ResponseWriter, _ *http.Request) {
		st.mu.Lock()
		st.byMethod = map[string]*counts{}
		st.mu.Unlock()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c := st.get(r.Method)
		atomic.AddInt64(&c.Requests, 1)
		if r.Body != nil {
			r.Body = countingReader{r.Body, &c.RequestBytes}
		}
		proxy.ServeHTTP(countingWriter{w, &c.ResponseBytes}, r)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	log.Fatal(http.Serve(ln, mux))
}
