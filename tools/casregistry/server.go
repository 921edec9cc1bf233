// Package casregistry is an OCI distribution registry that keeps manifests
// and tags on disk itself and serves blob bytes straight from Bazel's
// remote cache. Pushing an image that Bazel built with a remote cache
// writes only its manifests: the layers are already in the cache.
//
// It serves the pull, push, tag-listing and referrers parts of the
// distribution spec.
// A blob can be pushed only if the cache has it already: the bytes are
// checked against the digest and dropped. Anything else is refused with
// UNSUPPORTED, since this registry stores no blob bytes.
//
// What it trusts: the remote cache, for blob bytes and sizes (a size is
// recorded only once the cache confirms it, and never changed), and the
// credentials of WithAuth, for writes and, if asked, reads. A blob is
// served only in a repository whose manifests name it or into which it was
// uploaded or mounted: knowing a hash is not enough to read a blob.
package casregistry

import (
	"context"
	"log"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/rules-img/rules_img/tools/cas"
)

// Server is the registry, an http.Handler.
type Server struct {
	blobs cas.Store
	disk  disk
	log   *log.Logger

	// mu serializes writes of manifests and tags, so that the check of an
	// index's children and the write see the same repository.
	mu      sync.Mutex
	uploads uploads

	// maxReferrers bounds the referrers list of one subject in one
	// repository: maxReferrers, but for tests.
	maxReferrers int

	// auth is nil when anyone may read and write.
	auth      *Auth
	authReads bool
}

// Option configures a Server.
type Option func(*Server)

// WithAuth makes writes (PUT, POST, PATCH, DELETE) need credentials of a;
// with reads, every request does. Requests without them get 401 and a
// Basic challenge, as from distribution with htpasswd.
func WithAuth(a *Auth, reads bool) Option {
	return func(s *Server) { s.auth, s.authReads = a, reads }
}

// WithUploadLimits bounds the upload sessions open at once: total in all,
// perClient for one client (its user, or without authentication its IP
// address). The defaults are DefaultMaxUploads and DefaultMaxUploadsPerClient.
func WithUploadLimits(total, perClient int) Option {
	return func(s *Server) { s.uploads.max, s.uploads.perClient = total, perClient }
}

// New serves the manifests kept below dir and the blobs of store. Writes
// (pushed manifests and tags) are logged to logger, if not nil.
func New(dir string, store cas.Store, logger *log.Logger, opts ...Option) *Server {
	if logger == nil {
		logger = log.New(discard{}, "", 0)
	}
	s := &Server{blobs: store, disk: disk{root: dir}, log: logger, uploads: newUploads(DefaultMaxUploads, DefaultMaxUploadsPerClient), maxReferrers: maxReferrers}
	for _, o := range opts {
		o(s)
	}
	return s
}

type clientKey struct{}

// client names who sent r, for the per-client limits: the user, or the IP
// address of an anonymous client.
func client(r *http.Request) string {
	if c, ok := r.Context().Value(clientKey{}).(string); ok {
		return c
	}
	return anonymousClient(r)
}

func anonymousClient(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + host
}

// authorize checks r's credentials. It returns r with its client in the
// context, or false after answering 401.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if s.auth == nil {
		return r, true
	}
	user, present, ok := s.auth.authenticate(r)
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	// GET /v2/ is how clients learn the challenge: it answers 401 to
	// anyone without credentials, even when reads are open.
	base := r.URL.Path == "/v2/" || r.URL.Path == "/v2"
	var e *apiError
	switch {
	case present && !ok:
		e = unauthorized("the credentials were not accepted")
	case !present && (!read || s.authReads || base):
		what := "writes need"
		if read {
			what = "this registry needs"
		}
		e = unauthorized("%s credentials: a user of --htpasswd or a token of --tokens_file", what)
	}
	if e != nil {
		w.Header().Set("WWW-Authenticate", challenge)
		writeError(w, r, e)
		return r, false
	}
	if !present {
		return r, true
	}
	return r.WithContext(context.WithValue(r.Context(), clientKey{}, "user:"+user)), true
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// The distribution spec's repository name and tag grammars.
var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

	manifestsRE = regexp.MustCompile(`^(.+)/manifests/([^/]+)$`)
	blobsRE     = regexp.MustCompile(`^(.+)/blobs/([^/]+)$`)
	uploadsRE   = regexp.MustCompile(`^(.+)/blobs/uploads/([^/]*)$`)
	tagsRE      = regexp.MustCompile(`^(.+)/tags/list$`)
	referrersRE = regexp.MustCompile(`^(.+)/referrers/([^/]+)$`)
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	r, ok := s.authorize(w, r)
	if !ok {
		return
	}
	rest, isAPI := strings.CutPrefix(r.URL.Path, "/v2/")
	if !isAPI && r.URL.Path != "/v2" {
		writeError(w, r, newError(http.StatusNotFound, "NOT_FOUND", "%s is not an API of the OCI distribution spec (/v2/...)", r.URL.Path))
		return
	}
	if rest == "" {
		s.base(w, r)
		return
	}
	type route struct {
		re      *regexp.Regexp
		methods map[string]func(w http.ResponseWriter, r *http.Request, name, ref string) *apiError
	}
	// Uploads before blobs: "<name>/blobs/uploads/" matches both.
	routes := []route{
		{uploadsRE, map[string]func(http.ResponseWriter, *http.Request, string, string) *apiError{
			http.MethodPost: s.startUpload, http.MethodPatch: s.patchUpload, http.MethodPut: s.finishUpload,
			http.MethodGet: s.uploadStatus, http.MethodDelete: s.cancelUpload,
		}},
		{manifestsRE, map[string]func(http.ResponseWriter, *http.Request, string, string) *apiError{
			http.MethodGet: s.getManifest, http.MethodHead: s.getManifest, http.MethodPut: s.putManifest,
		}},
		{blobsRE, map[string]func(http.ResponseWriter, *http.Request, string, string) *apiError{
			http.MethodGet: s.getBlob, http.MethodHead: s.getBlob,
		}},
		{tagsRE, map[string]func(http.ResponseWriter, *http.Request, string, string) *apiError{
			http.MethodGet: s.listTags,
		}},
		{referrersRE, map[string]func(http.ResponseWriter, *http.Request, string, string) *apiError{
			http.MethodGet: s.listReferrers,
		}},
	}
	for _, rt := range routes {
		m := rt.re.FindStringSubmatch(rest)
		if m == nil {
			continue
		}
		name, ref := m[1], ""
		if len(m) > 2 {
			ref = m[2]
		}
		if !nameRE.MatchString(name) {
			writeError(w, r, newError(http.StatusBadRequest, "NAME_INVALID", "invalid repository name %q: lowercase letters, digits and separators (. _ __ - /) only", name))
			return
		}
		handler, ok := rt.methods[r.Method]
		if !ok {
			writeError(w, r, unsupported("%s is not supported on %s: this registry keeps what was pushed and deletes nothing", r.Method, r.URL.Path))
			return
		}
		if err := handler(w, r, name, ref); err != nil {
			if err.cause != nil {
				s.log.Printf("%s %s: %v", r.Method, r.URL.Path, err.cause)
			}
			writeError(w, r, err)
		}
		return
	}
	writeError(w, r, newError(http.StatusNotFound, "NOT_FOUND", "%s is not an API of the OCI distribution spec", r.URL.Path))
}

// base is the version check: GET /v2/.
func (s *Server) base(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, r, unsupported("%s /v2/ is not supported", r.Method))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte("{}"))
	}
}
