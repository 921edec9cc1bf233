// Package casregistry is an OCI distribution registry that keeps manifests
// and tags on disk itself and serves blob bytes straight from Bazel's
// remote cache. Pushing an image that Bazel built with a remote cache
// writes only its manifests: the layers are already in the cache.
//
// It serves the pull, push and tag-listing parts of the distribution spec.
// A blob can be pushed only if the cache has it already: the bytes are
// checked against the digest and dropped. Anything else is refused with
// UNSUPPORTED, since this registry stores no blob bytes.
package casregistry

import (
	"github.com/rules-img/rules_img/tools/cas"
	"log"
	"net/http"
	"regexp"
	"strings"
	"sync"
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
}

// New serves the manifests kept below dir and the blobs of store. Writes
// (pushed manifests and tags) are logged to logger, if not nil.
func New(dir string, store cas.Store, logger *log.Logger) *Server {
	if logger == nil {
		logger = log.New(discard{}, "", 0)
	}
	return &Server{blobs: store, disk: disk{root: dir}, log: logger, uploads: uploads{sessions: map[string]*upload{}}}
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
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	if !ok && r.URL.Path != "/v2" {
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
