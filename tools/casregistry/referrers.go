package casregistry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxReferrers bounds the manifests that one repository keeps as
// referrers of one subject. Signatures, SBOMs and attestations of an image
// number in the tens; past the bound a push with that subject is refused
// (403 DENIED), so that no client grows a list, and the work of every GET
// of it, without end.
//
// The list of a subject is also bounded in bytes: it is answered in one
// response (clients such as go-containerregistry read no further pages)
// of at most maxManifestSize, and a push whose descriptor would carry it
// past that is refused too.
const maxReferrers = 1000

// referrer is what a manifest with a subject adds to its subject's
// referrers list: the subject's hex digest, and the manifest's descriptor
// as the list holds it.
type referrer struct {
	subject    string
	descriptor []byte
}

// referrerDescriptor is a descriptor of the referrers list: the
// manifest's media type, digest and size, its artifactType (else, for an
// image manifest, its config's media type), and its annotations as they
// are in the manifest.
type referrerDescriptor struct {
	MediaType    string          `json:"mediaType"`
	Digest       string          `json:"digest"`
	Size         int64           `json:"size"`
	ArtifactType string          `json:"artifactType,omitempty"`
	Annotations  json.RawMessage `json:"annotations,omitempty"`
}

// referrerOf returns what the manifest raw, of digest hex, adds to the
// referrers list of its subject; nil if it has no subject. The manifest
// parsed already (references): only the fields the list needs are read.
func referrerOf(mediaType types.MediaType, hex string, raw []byte) (*referrer, *apiError) {
	var m struct {
		ArtifactType string `json:"artifactType"`
		Config       struct {
			MediaType string `json:"mediaType"`
		} `json:"config"`
		Subject *struct {
			Digest string `json:"digest"`
		} `json:"subject"`
		Annotations json.RawMessage `json:"annotations"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, manifestInvalid("the manifest does not parse: %v", err)
	}
	if m.Subject == nil {
		return nil, nil
	}
	subject, e := parseDigest(m.Subject.Digest)
	if e != nil {
		return nil, manifestInvalid("subject: %s", e.message)
	}
	d := referrerDescriptor{
		MediaType:    string(mediaType),
		Digest:       "sha256:" + hex,
		Size:         int64(len(raw)),
		ArtifactType: m.ArtifactType,
		Annotations:  m.Annotations,
	}
	if d.ArtifactType == "" && isImageManifest(mediaType) {
		d.ArtifactType = m.Config.MediaType
	}
	if bytes.Equal(d.Annotations, []byte("null")) {
		d.Annotations = nil
	}
	desc, err := encodeJSON(d)
	if err != nil {
		return nil, manifestInvalid("annotations: %v", err)
	}
	return &referrer{subject: subject, descriptor: desc}, nil
}

// encodeJSON encodes v compactly, without escaping <, > and &, so that
// the annotations of a descriptor take no more bytes than in the manifest.
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// referrersIndex is the answer of the referrers API: an OCI image index.
type referrersIndex struct {
	SchemaVersion int                  `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	Manifests     []referrerDescriptor `json:"manifests"`
}

// emptyReferrers is the referrers index without descriptors, as
// encodeJSON writes it.
const emptyReferrers = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`

// indexSize is the size of the referrers index of n descriptors of
// together size bytes: the descriptors, separated by commas.
func indexSize(n int, size int64) int64 {
	return int64(len(emptyReferrers)) + size + int64(max(n-1, 0))
}

// checkReferrer refuses a manifest that would carry its subject's
// referrers list in repository name past s.maxReferrers or
// maxManifestSize. A manifest listed already passes. The caller holds s.mu.
func (s *Server) checkReferrer(name, hex string, r *referrer) *apiError {
	entries, err := s.disk.referrerEntries(name, r.subject)
	if err != nil {
		return internal(err)
	}
	var size int64
	for _, e := range entries {
		if e.hex == hex {
			return nil
		}
		size += e.size
	}
	subject := "sha256:" + r.subject
	if len(entries) >= s.maxReferrers {
		return newError(http.StatusForbidden, "DENIED",
			"repository %s has %d manifests whose subject is %s, the most this registry keeps for one subject", name, len(entries), subject)
	}
	if n := indexSize(len(entries)+1, size+int64(len(r.descriptor))); n > maxManifestSize {
		return newError(http.StatusForbidden, "DENIED",
			"with this manifest, the referrers list of %s in repository %s would have %d bytes, more than the %d this registry answers: its annotations take %d bytes",
			subject, name, n, maxManifestSize, len(r.descriptor))
	}
	return nil
}

var (
	// The image spec's digest grammar, and its sha512 encoding.
	encodedRE = regexp.MustCompile(`^[a-zA-Z0-9=_-]+$`)
	sha512RE  = regexp.MustCompile(`^[a-f0-9]{128}$`)
)

// referrersSubject checks the digest of a referrers request and returns
// its hex. A well-formed digest of an algorithm other than sha256 gives
// "": no manifest here names it as its subject (putManifest takes sha256
// subjects only), and its list is empty rather than an error.
func referrersSubject(ref string) (string, *apiError) {
	hex, e := parseDigest(ref)
	if e == nil {
		return hex, nil
	}
	algorithm, encoded, _ := strings.Cut(ref, ":")
	if algorithm == "sha256" || !algorithmRE.MatchString(algorithm) || !encodedRE.MatchString(encoded) ||
		(algorithm == "sha512" && !sha512RE.MatchString(encoded)) {
		return "", e
	}
	return "", nil
}

// listReferrers is GET /v2/<name>/referrers/<digest>: an OCI image index
// of the manifests of repository name whose subject is digest, in digest
// order, as the spec's referrers API. An artifactType query keeps the
// descriptors of that artifact type, and says so in OCI-Filters-Applied.
// An unknown subject, or repository, has an empty list.
func (s *Server) listReferrers(w http.ResponseWriter, r *http.Request, name, ref string) *apiError {
	subject, e := referrersSubject(ref)
	if e != nil {
		return e
	}
	filter := r.URL.Query().Get("artifactType")
	index := referrersIndex{SchemaVersion: 2, MediaType: string(types.OCIImageIndex), Manifests: []referrerDescriptor{}}
	if subject != "" {
		descs, err := s.referrers(name, subject)
		if err != nil {
			return internal(err)
		}
		for _, d := range descs {
			if filter == "" || d.ArtifactType == filter {
				index.Manifests = append(index.Manifests, d)
			}
		}
	}
	body, err := encodeJSON(index)
	if err != nil {
		return internal(err)
	}
	h := w.Header()
	if filter != "" {
		h.Set("OCI-Filters-Applied", "artifactType")
	}
	h.Set("Content-Type", string(types.OCIImageIndex))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// referrers reads the referrers list of subject in repository name. It
// reads no more than putManifest lets in (s.maxReferrers descriptors,
// maxManifestSize bytes), even of a directory written with other bounds:
// the rest is left out, and the log says so.
func (s *Server) referrers(name, subject string) ([]referrerDescriptor, error) {
	entries, err := s.disk.referrerEntries(name, subject)
	if err != nil {
		return nil, err
	}
	var (
		descs []referrerDescriptor
		size  int64
	)
	for _, e := range entries {
		full := len(descs) == s.maxReferrers || indexSize(len(descs)+1, size+e.size) > maxManifestSize
		var raw []byte
		if !full {
			raw, err = s.disk.referrer(name, subject, e.hex)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			full = indexSize(len(descs)+1, size+int64(len(raw))) > maxManifestSize
		}
		if full {
			s.log.Printf("the referrers list of sha256:%s in %s is cut to %d of %d manifests: it holds more than this registry answers", subject, name, len(descs), len(entries))
			break
		}
		var d referrerDescriptor
		if err := json.Unmarshal(raw, &d); err != nil || d.Digest != "sha256:"+e.hex {
			return nil, fmt.Errorf("referrer %s of sha256:%s in %s is damaged", e.hex, subject, name)
		}
		descs = append(descs, d)
		size += int64(len(raw))
	}
	return descs, nil
}
