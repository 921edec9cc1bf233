package cas

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/rules-img/rules_img/tools/auth"
)

// headConcurrency bounds the HEAD requests of one Missing call.
const headConcurrency = 16

// httpStore is Bazel's HTTP cache: blobs at <base>/cas/<sha256>.
type httpStore struct {
	base   *url.URL
	client *http.Client
	static map[string]string
	helper string

	once    sync.Once
	headers map[string][]string
	hdrErr  error
}

func dialHTTP(c Config) (Store, error) {
	base, err := url.Parse(c.URL)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("remote cache %s: not a URL with a host, as in https://cache.example.com/prefix", c.RedactedURL())
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if c.TLSCertificate != "" {
		pem, err := os.ReadFile(c.TLSCertificate)
		if err != nil {
			return nil, fmt.Errorf("remote cache %s: TLS certificate: %w", base.Redacted(), err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("remote cache %s: TLS certificate %s holds no PEM certificate", base.Redacted(), c.TLSCertificate)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	client := &http.Client{Transport: transport, CheckRedirect: sameOrigin}
	return &httpStore{base: base, client: client, static: c.Headers, helper: c.CredentialHelper}, nil
}

// maxRedirects is as many redirects as net/http follows by default.
const maxRedirects = 10

// sameOrigin follows redirects within the cache's scheme and host only:
// every request carries the configured headers and the credential
// helper's (API keys, tokens), which another host must not see.
func sameOrigin(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	first := via[0].URL
	if !strings.EqualFold(req.URL.Host, first.Host) || req.URL.Scheme != first.Scheme {
		return fmt.Errorf("redirected to %s://%s, another origin than the cache's: not followed, so that the cache's headers and credentials go nowhere else", req.URL.Scheme, req.URL.Host)
	}
	return nil
}

func (s *httpStore) name() string { return s.base.Redacted() }

func (s *httpStore) blobURL(d Digest) string {
	u := *s.base
	u.Path += "/cas/" + d.Hash
	return u.String()
}

// request builds a request with the configured and helper-given headers.
// The helper is asked once, for the cache's base URL.
func (s *httpStore) request(ctx context.Context, method string, d Digest, body io.Reader) (*http.Request, error) {
	s.once.Do(func() {
		if s.helper != "" {
			u := *s.base
			u.User = nil
			s.headers, s.hdrErr = auth.BazelHelper{Path: s.helper}.Headers(ctx, u.String())
		}
	})
	if s.hdrErr != nil {
		return nil, s.hdrErr
	}
	req, err := http.NewRequestWithContext(ctx, method, s.blobURL(d), body)
	if err != nil {
		return nil, err
	}
	for k, v := range s.static {
		req.Header.Set(k, v)
	}
	for k, vs := range s.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return req, nil
}

// do sends req; transport errors say that the cache is not reachable.
func (s *httpStore) do(req *http.Request, d Digest) (*http.Response, error) {
	resp, err := s.client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may hold a password.
		if uerr, ok := err.(*url.Error); ok {
			err = uerr.Err
		}
		// %v: a cache error must not pass for the registry's network error.
		return nil, fmt.Errorf("remote cache %s is not reachable (%s %s): %v", s.name(), req.Method, d, err)
	}
	return resp, nil
}

// statusError describes an unexpected answer.
func (s *httpStore) statusError(resp *http.Response, d Digest) error {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("remote cache %s refused access (%s %s: %s); check //img/settings:credential_helper or $%s", s.name(), resp.Request.Method, d, resp.Status, CredentialHelperEnv)
	}
	return fmt.Errorf("remote cache %s: %s %s: %s", s.name(), resp.Request.Method, d, resp.Status)
}

// head asks the cache for d's headers; the response has no body left to read.
func (s *httpStore) head(ctx context.Context, d Digest) (*http.Response, error) {
	req, err := s.request(ctx, http.MethodHead, d, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.do(req, d)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

func (s *httpStore) Missing(ctx context.Context, ds []Digest) ([]Digest, error) {
	if err := validateAll(ds); err != nil {
		return nil, err
	}
	present := make([]bool, len(ds))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(headConcurrency)
	for i, d := range ds {
		g.Go(func() error {
			resp, err := s.head(ctx, d)
			if err != nil {
				return err
			}
			switch resp.StatusCode {
			case http.StatusOK:
				present[i] = true
			case http.StatusNotFound:
			default:
				return s.statusError(resp, d)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var missing []Digest
	for i, d := range ds {
		if !present[i] {
			missing = append(missing, d)
		}
	}
	return missing, nil
}

// checkSizes asks with HEAD and compares Content-Length; an answer without
// one is checked by reading the blob.
func (s *httpStore) checkSizes(ctx context.Context, ds []Digest) (missing, wrongSize []Digest, err error) {
	const (
		present = iota
		absent
		wrong
	)
	state := make([]int, len(ds))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(headConcurrency)
	for i, d := range ds {
		g.Go(func() error {
			resp, err := s.head(gctx, d)
			if err != nil {
				return err
			}
			switch {
			case resp.StatusCode == http.StatusNotFound:
				state[i] = absent
			case resp.StatusCode != http.StatusOK:
				return s.statusError(resp, d)
			case resp.ContentLength >= 0 && resp.ContentLength != d.Size:
				state[i] = wrong
			case resp.ContentLength < 0:
				switch err := readAll(gctx, s, d); {
				case errors.Is(err, ErrNotFound):
					state[i] = absent
				case errors.Is(err, ErrMismatch):
					state[i] = wrong
				case err != nil:
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	for i, d := range ds {
		switch state[i] {
		case absent:
			missing = append(missing, d)
		case wrong:
			wrongSize = append(wrongSize, d)
		}
	}
	return missing, wrongSize, nil
}

func (s *httpStore) Open(ctx context.Context, d Digest) (io.ReadCloser, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	req, err := s.request(ctx, http.MethodGet, d, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.do(req, d)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return verified(resp.Body, d, s.name()), nil
	case http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("blob %s in %s: %w", d, s.name(), ErrNotFound)
	}
	resp.Body.Close()
	return nil, s.statusError(resp, d)
}

// Put uploads a blob with PUT, as Bazel does.
func (s *httpStore) Put(ctx context.Context, d Digest, r io.Reader) error {
	if err := d.Validate(); err != nil {
		return err
	}
	req, err := s.request(ctx, http.MethodPut, d, r)
	if err != nil {
		return err
	}
	req.ContentLength = d.Size
	resp, err := s.do(req, d)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return s.statusError(resp, d)
	}
	return nil
}

// String names the cache, for messages.
func (s *httpStore) String() string { return s.name() }
