// Package cas reads blobs from a Bazel remote cache: REAPI over gRPC
// (ByteStream and ContentAddressableStorage) or Bazel's HTTP cache
// (/cas/<sha256>). Pushes use it to stream layers that Bazel built remotely
// straight from the cache into a registry, without downloading them first.
//
// Addresses are written as for Bazel's --remote_cache: grpc://, grpcs://,
// unix:, http:// and https://, with no scheme meaning grpcs. Only sha256
// digests are supported: a cache that speaks only another digest function
// is refused at Dial, and every blob read is checked against its digest.
package cas

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/rules-img/rules_img/tools/auth"
)

// ErrNotFound is wrapped by errors for blobs the cache does not have.
var ErrNotFound = errors.New("blob not found in the remote cache")

// ErrMismatch is wrapped by read errors for bytes that are not the blob
// asked for: another size or another sha256.
var ErrMismatch = errors.New("the bytes do not match the digest")

// Digest names a blob in the cache: its sha256 and size.
type Digest struct {
	// Hash is the lowercase hex sha256 of the blob, without "sha256:".
	Hash string
	// Size is the blob's length in bytes.
	Size int64
}

// String formats d as "sha256:<hex>/<size>", the way errors name blobs.
func (d Digest) String() string {
	return "sha256:" + d.Hash + "/" + strconv.FormatInt(d.Size, 10)
}

// OCI returns the digest as OCI writes it: "sha256:<hex>".
func (d Digest) OCI() string { return "sha256:" + d.Hash }

// ParseOCI makes a Digest from an OCI digest ("sha256:<hex>") and a size.
// Other algorithms are an error: Bazel caches are keyed by sha256 here.
func ParseOCI(digest string, size int64) (Digest, error) {
	algorithm, hexPart, ok := strings.Cut(digest, ":")
	if !ok || algorithm != "sha256" {
		return Digest{}, fmt.Errorf("digest %q is not a sha256 digest; only sha256 blobs can be read from a Bazel remote cache", digest)
	}
	d := Digest{Hash: hexPart, Size: size}
	return d, d.Validate()
}

// Validate reports whether d is a well-formed sha256 digest.
func (d Digest) Validate() error {
	if len(d.Hash) != sha256.Size*2 {
		return fmt.Errorf("digest %q has %d hex digits; only sha256 (64) is supported", d.Hash, len(d.Hash))
	}
	for _, c := range d.Hash {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("digest %q is not lowercase hex", d.Hash)
		}
	}
	if d.Size < 0 {
		return fmt.Errorf("digest %s has a negative size", d.Hash)
	}
	return nil
}

// Of returns the digest of data.
func Of(data []byte) Digest {
	sum := sha256.Sum256(data)
	return Digest{Hash: hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

// emptyBlob is the digest of zero bytes.
var emptyBlob = Of(nil)

// Store is a content-addressable cache of blobs.
type Store interface {
	// Missing returns the digests among ds that the cache lacks.
	Missing(ctx context.Context, ds []Digest) ([]Digest, error)
	// Open streams one blob; the error wraps ErrNotFound if the cache lacks it.
	// Reading fails if the bytes do not match d.
	Open(ctx context.Context, d Digest) (io.ReadCloser, error)
}

// Writer is a Store that blobs can be written to (tests, tools that seed
// a cache).
type Writer interface {
	Store
	// Put uploads the blob d, read from r.
	Put(ctx context.Context, d Digest, r io.Reader) error
}

// Config says which cache to use and how to authenticate.
type Config struct {
	// URL is the cache address in the format of Bazel's --remote_cache.
	URL string
	// InstanceName is the REAPI instance name (--remote_instance_name);
	// the HTTP cache ignores it, as Bazel does.
	InstanceName string
	// CredentialHelper is an executable speaking Bazel's credential-helper
	// protocol (--credential_helper); its headers go with every request.
	CredentialHelper string
	// Headers go with every request (--remote_header).
	Headers map[string]string
	// TLSCertificate is a PEM file of CAs to trust for grpcs:// and https://
	// (--tls_certificate); empty means the system's.
	TLSCertificate string
}

// The environment variables ConfigFromEnv reads.
const (
	// EndpointEnv is the cache address, as Bazel's --remote_cache.
	EndpointEnv = "IMG_REAPI_ENDPOINT"
	// InstanceNameEnv is the REAPI instance name.
	InstanceNameEnv = "IMG_REAPI_INSTANCE_NAME"
	// CredentialHelperEnv is the credential helper, as Bazel's
	// --credential_helper; the registry client reads it too.
	CredentialHelperEnv = auth.CredentialHelperEnv
	// HeadersEnv holds extra headers, one "Name=Value" a line.
	HeadersEnv = "IMG_REAPI_HEADERS"
	// TLSCertificateEnv is a PEM file of CAs to trust.
	TLSCertificateEnv = "IMG_REAPI_TLS_CERTIFICATE"
)

// ConfigFromEnv reads a Config from IMG_REAPI_ENDPOINT,
// IMG_REAPI_INSTANCE_NAME, IMG_CREDENTIAL_HELPER, IMG_REAPI_HEADERS (one
// "Name=Value" a line) and IMG_REAPI_TLS_CERTIFICATE.
func ConfigFromEnv() Config {
	c := Config{
		URL:              os.Getenv(EndpointEnv),
		InstanceName:     os.Getenv(InstanceNameEnv),
		CredentialHelper: os.Getenv(CredentialHelperEnv),
		TLSCertificate:   os.Getenv(TLSCertificateEnv),
	}
	for _, line := range strings.Split(os.Getenv(HeadersEnv), "\n") {
		key, value, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || key == "" {
			continue
		}
		if c.Headers == nil {
			c.Headers = map[string]string{}
		}
		c.Headers[key] = value
	}
	return c
}

// Dial connects to the cache c.URL names: gRPC for grpc://, grpcs://,
// unix: and no scheme; Bazel's HTTP protocol for http:// and https://.
// A gRPC cache is asked for its capabilities, so that an unreachable cache
// or one without sha256 fails here, before any push begins.
func Dial(ctx context.Context, c Config) (Store, error) {
	if c.URL == "" {
		return nil, fmt.Errorf("no remote cache is set: set //img/settings:remote_cache (the same format as Bazel's --remote_cache) or $%s", EndpointEnv)
	}
	scheme, _, hasScheme := strings.Cut(c.URL, "://")
	if !hasScheme && strings.HasPrefix(c.URL, "unix:") {
		scheme = "unix"
	} else if !hasScheme {
		scheme = ""
	}
	switch strings.ToLower(scheme) {
	case "http", "https":
		return dialHTTP(c)
	case "grpc", "grpcs", "unix", "":
		return dialGRPC(ctx, c)
	}
	return nil, fmt.Errorf("remote cache %s: scheme %q is not supported; use grpc://, grpcs://, unix:, http:// or https://", c.RedactedURL(), scheme)
}

// RedactedURL is the cache address with any credentials hidden, for
// messages and logs.
func (c Config) RedactedURL() string {
	prefix, authority, rest := splitAuthority(c.URL)
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		return prefix + "xxxxx@" + authority[i+1:] + rest
	}
	return c.URL
}

// HasCredentials reports whether a cache address holds credentials: an
// '@' in its authority (user@host, user:password@host), with a scheme or
// without one (user:password@cache:443). unix: addresses have no
// authority: an '@' in a socket path is no credential. It is the one
// notion of credentials in an address; img/private/deploy.bzl
// (remote_cache_has_credentials) checks the same at analysis time.
func HasCredentials(address string) bool {
	_, authority, _ := splitAuthority(address)
	return strings.Contains(authority, "@")
}

// splitAuthority cuts a cache address into the scheme with its "://" (or
// ""), the authority (up to the first '/', '?' or '#') and the rest. A
// unix: address has no authority.
func splitAuthority(address string) (prefix, authority, rest string) {
	if len(address) >= 5 && strings.EqualFold(address[:5], "unix:") {
		return "", "", address
	}
	if i := strings.Index(address, "://"); i >= 0 {
		prefix, address = address[:i+3], address[i+3:]
	}
	end := strings.IndexAny(address, "/?#")
	if end < 0 {
		end = len(address)
	}
	return prefix, address[:end], address[end:]
}

// verifier checks a blob's size and sha256 as it is read.
type verifier struct {
	rc     io.ReadCloser
	digest Digest
	source string
	hash   hash.Hash
	n      int64
	err    error
}

// verified wraps rc so that reading fails unless it yields exactly d.
func verified(rc io.ReadCloser, d Digest, source string) io.ReadCloser {
	return &verifier{rc: rc, digest: d, source: source, hash: sha256.New()}
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.rc.Read(p)
	v.hash.Write(p[:n])
	v.n += int64(n)
	if v.n > v.digest.Size {
		v.err = fmt.Errorf("blob %s from %s: the cache sent more than %d bytes: %w", v.digest, v.source, v.digest.Size, ErrMismatch)
		return n, v.err
	}
	if err == io.EOF {
		if v.n != v.digest.Size {
			v.err = fmt.Errorf("blob %s from %s: the cache sent %d bytes, want %d: %w", v.digest, v.source, v.n, v.digest.Size, ErrMismatch)
			return n, v.err
		}
		if got := hex.EncodeToString(v.hash.Sum(nil)); got != v.digest.Hash {
			v.err = fmt.Errorf("blob %s from %s: the cache sent bytes with sha256 %s: %w", v.digest, v.source, got, ErrMismatch)
			return n, v.err
		}
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

func (v *verifier) Close() error { return v.rc.Close() }

// validateAll checks every digest before anything is sent.
func validateAll(ds []Digest) error {
	for _, d := range ds {
		if err := d.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// sizeChecker is a Store that can confirm sizes without reading whole blobs.
type sizeChecker interface {
	checkSizes(ctx context.Context, ds []Digest) (missing, wrongSize []Digest, err error)
}

// CheckSizes sorts ds into the blobs the cache lacks and those it has with
// another size than d.Size; a digest in neither list is in the cache with
// exactly d.Size bytes. Missing alone does not say that: Bazel's HTTP
// cache keys blobs by hash only, and REAPI servers need not check the size
// of a digest. The HTTP cache is asked with HEAD (Content-Length), a REAPI
// cache with two one-byte ByteStream reads (at d.Size-1 and at d.Size),
// and any other Store by reading the blob whole.
func CheckSizes(ctx context.Context, s Store, ds []Digest) (missing, wrongSize []Digest, err error) {
	if err := validateAll(ds); err != nil {
		return nil, nil, err
	}
	var rest []Digest
	for _, d := range ds {
		switch {
		case d.Hash != emptyBlob.Hash:
			rest = append(rest, d)
		case d.Size != 0:
			wrongSize = append(wrongSize, d)
		}
	}
	if c, ok := s.(sizeChecker); ok {
		m, w, err := c.checkSizes(ctx, rest)
		return m, append(wrongSize, w...), err
	}
	m, err := s.Missing(ctx, rest)
	if err != nil {
		return nil, nil, err
	}
	isMissing := map[Digest]bool{}
	for _, d := range m {
		isMissing[d] = true
	}
	for _, d := range rest {
		if isMissing[d] {
			continue
		}
		switch err := readAll(ctx, s, d); {
		case errors.Is(err, ErrNotFound):
			m = append(m, d)
		case errors.Is(err, ErrMismatch):
			wrongSize = append(wrongSize, d)
		case err != nil:
			return nil, nil, err
		}
	}
	return m, wrongSize, nil
}

// readAll reads blob d through s and drops it; the error wraps ErrMismatch
// if the bytes are not d.
func readAll(ctx context.Context, s Store, d Digest) error {
	rc, err := s.Open(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}

// Lazy returns a Store that dials c when it is first used, so that a push
// whose blobs the registry has already never contacts the cache.
func Lazy(ctx context.Context, c Config) Store {
	return &lazyStore{ctx: ctx, config: c}
}

type lazyStore struct {
	ctx    context.Context
	config Config
	mu     sync.Mutex
	store  Store
}

func (l *lazyStore) get() (Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.store != nil {
		return l.store, nil
	}
	s, err := Dial(l.ctx, l.config)
	if err != nil {
		return nil, err
	}
	l.store = s
	return s, nil
}

func (l *lazyStore) Missing(ctx context.Context, ds []Digest) ([]Digest, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Missing(ctx, ds)
}

func (l *lazyStore) Open(ctx context.Context, d Digest) (io.ReadCloser, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Open(ctx, d)
}

func (l *lazyStore) checkSizes(ctx context.Context, ds []Digest) ([]Digest, []Digest, error) {
	s, err := l.get()
	if err != nil {
		return nil, nil, err
	}
	return CheckSizes(ctx, s, ds)
}

func (l *lazyStore) String() string { return l.config.RedactedURL() }
