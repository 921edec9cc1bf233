package casregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rules-img/rules_img/tools/cas"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxManifestSize is the largest manifest taken; the spec asks for 4 MiB at least.
const maxManifestSize = 4 << 20

// resolve maps a tag or digest of a repository to a manifest's hex digest.
func (s *Server) resolve(name, ref string) (string, *apiError) {
	if !s.disk.repoExists(name) {
		return "", nameUnknown(name)
	}
	if strings.Contains(ref, ":") {
		return parseDigest(ref)
	}
	if !tagRE.MatchString(ref) {
		return "", manifestInvalid("%q is neither a tag nor a digest", ref)
	}
	hex, err := s.disk.tag(name, ref)
	if errors.Is(err, fs.ErrNotExist) {
		return "", manifestUnknown("repository %s has no tag %s", name, ref)
	}
	if err != nil {
		return "", internal(err)
	}
	return hex, nil
}

// getManifest is GET and HEAD /v2/<name>/manifests/<reference>.
func (s *Server) getManifest(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	hex, e := s.resolve(name, ref)
	if e != nil {
		return e
	}
	mediaType, raw, err := s.disk.manifest(name, hex)
	if errors.Is(err, fs.ErrNotExist) {
		return manifestUnknown("repository %s has no manifest sha256:%s", name, hex)
	}
	if err != nil {
		return internal(err)
	}
	h := w.Header()
	h.Set("Content-Type", mediaType)
	h.Set("Content-Length", strconv.Itoa(len(raw)))
	h.Set("Docker-Content-Digest", "sha256:"+hex)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(raw)
	}
	return nil
}

func isImageManifest(mt types.MediaType) bool {
	return mt == types.OCIManifestSchema1 || mt == types.DockerManifestSchema2
}

func isIndex(mt types.MediaType) bool {
	return mt == types.OCIImageIndex || mt == types.DockerManifestList
}

// putManifest is PUT /v2/<name>/manifests/<reference>: it checks that
// everything the manifest refers to is there (blobs in the cache, the
// children of an index in this repository), and that its subject's
// referrers list has room for it, then writes the manifest, its entry in
// that list and, for a tag, the tag.
func (s *Server) putManifest(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxManifestSize+1))
	if err != nil {
		return newError(http.StatusBadRequest, "MANIFEST_INVALID", "reading the manifest: %v", err)
	}
	if len(raw) > maxManifestSize {
		return newError(http.StatusRequestEntityTooLarge, "SIZE_INVALID", "the manifest is larger than %d bytes", maxManifestSize)
	}
	hex := cas.Of(raw).Hash
	digest := "sha256:" + hex
	tag := ""
	if strings.Contains(ref, ":") {
		want, e := parseDigest(ref)
		if e != nil {
			return e
		}
		if want != hex {
			return digestInvalid("the manifest was pushed as %s, but its bytes have digest %s", ref, digest)
		}
	} else if tagRE.MatchString(ref) {
		tag = ref
	} else {
		return manifestInvalid("%q is neither a tag nor a digest", ref)
	}
	mediaType, e := manifestMediaType(r.Header.Get("Content-Type"), raw)
	if e != nil {
		return e
	}
	blobs, children, e := references(mediaType, raw)
	if e != nil {
		return e
	}
	referrer, e := referrerOf(mediaType, hex, raw)
	if e != nil {
		return e
	}

	// Blob presence does not depend on the repositories: the cache is asked
	// before the lock, so that a slow cache does not hold up other pushes.
	if e := s.checkBlobs(r, blobs); e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.checkChildren(name, children); e != nil {
		return e
	}
	if referrer != nil {
		if e := s.checkReferrer(name, hex, referrer); e != nil {
			return e
		}
	}
	for _, b := range blobs {
		if e := s.recordSize(b.Digest); e != nil {
			return e
		}
		if err := s.disk.putLink(name, b.Hash); err != nil {
			return internal(err)
		}
	}
	if err := s.disk.putManifest(name, hex, string(mediaType), raw); err != nil {
		return internal(err)
	}
	what := fmt.Sprintf("%d blobs in the cache", len(blobs))
	if isIndex(mediaType) {
		what = fmt.Sprintf("%d manifests", len(children))
	}
	if referrer != nil {
		// After the manifest: a crash between the two leaves a manifest
		// that is not listed until pushed again, never a listed one that
		// is not there.
		if err := s.disk.putReferrer(name, referrer.subject, hex, referrer.descriptor); err != nil {
			return internal(err)
		}
		what += ", subject sha256:" + referrer.subject
	}
	if tag != "" {
		if err := s.disk.putTag(name, tag, hex); err != nil {
			return internal(err)
		}
		s.log.Printf("pushed %s:%s (%s, %s, %s) from %s", name, tag, digest, mediaType, what, client(r))
	} else {
		s.log.Printf("pushed %s@%s (%s, %s) from %s", name, digest, mediaType, what, client(r))
	}
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/manifests/"+digest)
	h.Set("Docker-Content-Digest", digest)
	if referrer != nil {
		// The spec's sign that this registry keeps the referrers list, so
		// that clients do not also push the referrers tag of the subject.
		h.Set("OCI-Subject", "sha256:"+referrer.subject)
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// manifestMediaType takes the media type from Content-Type, or else from
// the manifest's mediaType field; the two must agree when both are given.
func manifestMediaType(contentType string, raw []byte) (types.MediaType, *apiError) {
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return "", manifestInvalid("the manifest is not JSON: %v", err)
	}
	header := types.MediaType("")
	if contentType != "" {
		if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt != "application/octet-stream" && mt != "application/json" {
			header = types.MediaType(mt)
		}
	}
	mediaType := header
	switch {
	case header == "" && probe.MediaType == "":
		return "", manifestInvalid("the manifest has no media type: send it as Content-Type or in its mediaType field")
	case header == "":
		mediaType = probe.MediaType
	case probe.MediaType != "" && probe.MediaType != header:
		return "", manifestInvalid("Content-Type is %s but the manifest's mediaType is %s", header, probe.MediaType)
	}
	if !isImageManifest(mediaType) && !isIndex(mediaType) {
		return "", manifestInvalid("media type %s is not an OCI or Docker image manifest or index", mediaType)
	}
	return mediaType, nil
}

// blobRef is a blob a manifest names: its digest and size, and where in
// the manifest ("layers[2]") for messages.
type blobRef struct {
	cas.Digest
	field string
}

// references returns the blobs an image manifest needs from the cache, or
// the manifests an index needs in the repository.
func references(mediaType types.MediaType, raw []byte) ([]blobRef, []v1.Descriptor, *apiError) {
	if isIndex(mediaType) {
		index, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, nil, manifestInvalid("the index does not parse: %v", err)
		}
		var children []v1.Descriptor
		for i, d := range index.Manifests {
			if _, e := parseDigest(d.Digest.String()); e != nil {
				return nil, nil, manifestInvalid("manifests[%d]: %s", i, e.message)
			}
			children = append(children, d)
		}
		return nil, children, nil
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, manifestInvalid("the manifest does not parse: %v", err)
	}
	var blobs []blobRef
	add := func(what string, d v1.Descriptor) *apiError {
		hex, e := parseDigest(d.Digest.String())
		if e != nil {
			return manifestInvalid("%s: %s", what, e.message)
		}
		if d.Size < 0 {
			return manifestInvalid("%s: size %d", what, d.Size)
		}
		blobs = append(blobs, blobRef{cas.Digest{Hash: hex, Size: d.Size}, what})
		return nil
	}
	if e := add("config", m.Config); e != nil {
		return nil, nil, e
	}
	for i, l := range m.Layers {
		// Foreign layers live elsewhere (their urls), never in the cache.
		if !l.MediaType.IsDistributable() || len(l.URLs) > 0 {
			continue
		}
		if e := add(fmt.Sprintf("layers[%d]", i), l); e != nil {
			return nil, nil, e
		}
	}
	return blobs, nil, nil
}

// cacheTimeout bounds a question to the cache while a client waits.
const cacheTimeout = 60 * time.Second

// checkBlobs answers MANIFEST_BLOB_UNKNOWN for blobs the cache lacks, and
// MANIFEST_INVALID for a size that is not the blob's, as distribution
// does: a size recorded here is compared, any other is confirmed by the
// cache (cas.CheckSizes) before it is recorded.
func (s *Server) checkBlobs(r *http.Request, blobs []blobRef) *apiError {
	if len(blobs) == 0 {
		return nil
	}
	var known, unknown []cas.Digest
	field := map[cas.Digest]string{}
	for _, b := range blobs {
		field[b.Digest] = b.field
		n, ok := s.disk.size(b.Hash)
		switch {
		case ok && n != b.Size:
			return sizeMismatch(b, fmt.Sprintf("the blob has %d bytes", n))
		case ok:
			known = append(known, b.Digest)
		default:
			unknown = append(unknown, b.Digest)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), cacheTimeout)
	defer cancel()
	var missing []cas.Digest
	if len(known) > 0 {
		m, err := s.blobs.Missing(ctx, known)
		if err != nil {
			return cacheUnavailable(err)
		}
		missing = m
	}
	if len(unknown) > 0 {
		m, wrong, err := cas.CheckSizes(ctx, s.blobs, unknown)
		if err != nil {
			return cacheUnavailable(err)
		}
		if len(wrong) > 0 {
			return sizeMismatch(blobRef{wrong[0], field[wrong[0]]}, "the remote cache has the blob with another size")
		}
		missing = append(missing, m...)
	}
	if len(missing) == 0 {
		return nil
	}
	var names []string
	for _, d := range missing {
		names = append(names, fmt.Sprintf("sha256:%s (%d bytes)", d.Hash, d.Size))
	}
	e := newError(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN",
		"the remote cache lacks %d blob(s) of this manifest: %s; build the image with the same --remote_cache so that its blobs are there",
		len(missing), strings.Join(names, ", "))
	e.detail = map[string]string{"digest": "sha256:" + missing[0].Hash}
	return e
}

func sizeMismatch(b blobRef, why string) *apiError {
	e := manifestInvalid("%s: sha256:%s is not %d bytes: %s", b.field, b.Hash, b.Size, why)
	e.detail = map[string]any{"digest": "sha256:" + b.Hash, "size": b.Size}
	return e
}

// recordSize records a confirmed size; a size recorded since (by another
// push) that differs refuses the push, and the recorded one stays.
func (s *Server) recordSize(d cas.Digest) *apiError {
	n, err := s.disk.putSize(d)
	if err != nil {
		return internal(err)
	}
	if n != d.Size {
		return sizeMismatch(blobRef{d, "blob"}, fmt.Sprintf("the blob has %d bytes", n))
	}
	return nil
}

// checkChildren answers MANIFEST_BLOB_UNKNOWN for children of an index that
// the repository lacks. The caller holds s.mu.
func (s *Server) checkChildren(name string, children []v1.Descriptor) *apiError {
	for _, c := range children {
		if _, _, err := s.disk.manifest(name, c.Digest.Hex); err != nil {
			e := newError(http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN",
				"the index names manifest %s, which repository %s lacks: push the index's manifests first", c.Digest, name)
			e.detail = map[string]string{"digest": c.Digest.String()}
			return e
		}
	}
	return nil
}
