package casregistry

import (
	"errors"
	"fmt"
	"github.com/rules-img/rules_img/tools/cas"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

var algorithmRE = regexp.MustCompile(`^[a-z0-9]+([+._-][a-z0-9]+)*$`)

// parseDigest checks a digest of the distribution API and returns its hex.
// Only sha256 is served: the remote cache keys blobs by sha256.
func parseDigest(s string) (string, *apiError) {
	algorithm, encoded, ok := strings.Cut(s, ":")
	if !ok || !algorithmRE.MatchString(algorithm) || encoded == "" {
		return "", digestInvalid("%q is not a digest (algorithm:hex, for example sha256:<64 hex digits>)", s)
	}
	if algorithm != "sha256" {
		return "", digestInvalid("digest %s uses %s: this registry serves blobs from a remote cache keyed by sha256, and takes sha256 digests only", s, algorithm)
	}
	if (cas.Digest{Hash: encoded}).Validate() != nil {
		return "", digestInvalid("digest %s: a sha256 digest has 64 lowercase hex digits", s)
	}
	return encoded, nil
}

// getBlob is GET and HEAD /v2/<name>/blobs/<digest>. A blob is served in
// the repositories whose manifests name it, or into which it was uploaded
// or mounted; never just because the cache has it: knowing a hash must not
// be enough to read a blob of the cache. At most its confirmed size is
// read from the cache, and checked.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	hex, e := parseDigest(ref)
	if e != nil {
		return e
	}
	size, ok := s.disk.size(hex)
	if !ok || !s.disk.hasLink(name, hex) {
		return blobUnknown("blob %s is unknown in repository %s: no manifest pushed to it names the blob, and it was not uploaded to it", ref, name)
	}
	d := cas.Digest{Hash: hex, Size: size}
	h := w.Header()
	h.Set("Docker-Content-Digest", ref)
	h.Set("Content-Type", "application/octet-stream")
	if r.Method == http.MethodHead {
		missing, err := s.blobs.Missing(r.Context(), []cas.Digest{d})
		if err != nil {
			return cacheUnavailable(err)
		}
		if len(missing) > 0 {
			return blobUnknown("blob %s (%d bytes) is no longer in the remote cache", ref, size)
		}
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		return nil
	}
	rc, err := s.blobs.Open(r.Context(), d)
	if errors.Is(err, cas.ErrNotFound) {
		return blobUnknown("blob %s (%d bytes) is no longer in the remote cache", ref, size)
	}
	if err != nil {
		return cacheUnavailable(err)
	}
	defer rc.Close()
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
	// cas.Store readers fail at the end if the bytes are not the blob; the
	// last byte is held back until then, so that a client never gets the
	// whole of other bytes: the response is cut short instead.
	held := int64(0)
	if size > 0 {
		held = 1
	}
	n, err := io.CopyN(w, rc, size-held)
	var tail []byte
	if err == nil {
		tail, err = io.ReadAll(io.LimitReader(rc, held+1))
		n += int64(len(tail))
	}
	if err == nil && n != size {
		err = fmt.Errorf("the cache returned %d bytes", n)
	}
	if err != nil {
		s.log.Printf("GET %s: blob %s (%d bytes) from the cache: %v; response cut short", r.URL.Path, ref, size, err)
		panic(http.ErrAbortHandler)
	}
	_, _ = w.Write(tail)
	return nil
}
