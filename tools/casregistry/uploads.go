package casregistry

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/rules-img/rules_img/tools/cas"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Blob uploads. This registry stores no blob bytes: an upload is hashed as
// it arrives and dropped. It succeeds when the bytes have the digest the
// client names and the remote cache has that blob (Bazel put it there); a
// blob the cache lacks is refused with UNSUPPORTED, before anything refers
// to it. A blob uploaded into a repository is served from it afterwards.
// Cross-repository mounts succeed for blobs of the repository mounted from.

// The default bounds of the upload sessions open at once: in all, and for
// one client, so that one client cannot take all the sessions from others.
// A push opens at most a few at a time (crane: 4 jobs; skopeo: 6).
const (
	DefaultMaxUploads          = 1024
	DefaultMaxUploadsPerClient = 64
)

// uploadIdle is how long an upload session may go unused: sessions that
// clients abandoned are dropped after it, so that they never fill maxUploads.
const uploadIdle = 10 * time.Minute

type upload struct {
	mu    sync.Mutex
	name  string
	owner string // the client that started it; see client
	sum   hash.Hash
	n     int64
	// lastUsed is guarded by uploads.mu.
	lastUsed time.Time
}

type uploads struct {
	mu       sync.Mutex
	sessions map[string]*upload
	open     map[string]int // sessions by owner
	max      int
	// perClient bounds the sessions of one owner.
	perClient int
	// now is the clock; nil means time.Now.
	now func() time.Time
}

func newUploads(total, perClient int) uploads {
	return uploads{sessions: map[string]*upload{}, open: map[string]int{}, max: total, perClient: perClient}
}

func (u *uploads) clock() time.Time {
	if u.now != nil {
		return u.now()
	}
	return time.Now()
}

func (u *uploads) start(name, owner string) (string, *apiError) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", internal(err)
	}
	id := hex.EncodeToString(b[:])
	u.mu.Lock()
	defer u.mu.Unlock()
	now := u.clock()
	for k, up := range u.sessions {
		// A session in use (its lock held, by a long PATCH) is kept.
		if now.Sub(up.lastUsed) > uploadIdle && up.mu.TryLock() {
			u.remove(k)
			up.mu.Unlock()
		}
	}
	if u.open[owner] >= u.perClient {
		return "", newError(http.StatusTooManyRequests, "TOOMANYREQUESTS", "you have %d uploads open, the most one client may; finish or cancel some", u.open[owner])
	}
	if len(u.sessions) >= u.max {
		return "", newError(http.StatusTooManyRequests, "TOOMANYREQUESTS", "%d uploads are open; finish or cancel some", u.max)
	}
	u.sessions[id] = &upload{name: name, owner: owner, sum: sha256.New(), lastUsed: now}
	u.open[owner]++
	return id, nil
}

// remove drops a session; the caller holds u.mu.
func (u *uploads) remove(id string) {
	up, ok := u.sessions[id]
	if !ok {
		return
	}
	delete(u.sessions, id)
	if u.open[up.owner]--; u.open[up.owner] <= 0 {
		delete(u.open, up.owner)
	}
}

// get finds a session of repository name that owner started: a session
// is not shared with other clients.
func (u *uploads) get(name, owner, id string) (*upload, *apiError) {
	u.mu.Lock()
	defer u.mu.Unlock()
	up, ok := u.sessions[id]
	if !ok || up.name != name || up.owner != owner {
		return nil, newError(http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "no upload %q in repository %s", id, name)
	}
	up.lastUsed = u.clock()
	return up, nil
}

func (u *uploads) end(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.remove(id)
}

func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

// startUpload is POST /v2/<name>/blobs/uploads/: a mount (?mount=&from=),
// a monolithic upload (?digest=), or the start of a session.
func (s *Server) startUpload(w http.ResponseWriter, r *http.Request, name, id string) *apiError {
	if id != "" {
		return unsupported("POST to an upload session; use PATCH or PUT")
	}
	q := r.URL.Query()
	if mount, from := q.Get("mount"), q.Get("from"); mount != "" && nameRE.MatchString(from) {
		// A blob of the repository mounted from: naming a hash is not
		// enough to get a blob into a repository.
		if hex, e := parseDigest(mount); e == nil && s.disk.hasLink(from, hex) {
			if size, ok := s.disk.size(hex); ok {
				missing, err := s.blobs.Missing(r.Context(), []cas.Digest{{Hash: hex, Size: size}})
				if err != nil {
					return cacheUnavailable(err)
				}
				if len(missing) == 0 {
					if err := s.disk.putLink(name, hex); err != nil {
						return internal(err)
					}
					blobCreated(w, name, mount)
					return nil
				}
			}
		}
		// As the spec says: a mount that cannot be done becomes an upload.
	}
	owner := client(r)
	id, e := s.uploads.start(name, owner)
	if e != nil {
		return e
	}
	if digest := q.Get("digest"); digest != "" {
		up, _ := s.uploads.get(name, owner, id)
		defer s.uploads.end(id)
		return s.complete(w, r, up, digest)
	}
	w.Header().Set("Location", uploadLocation(name, id))
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", "0-0")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// patchUpload is PATCH of a session: one chunk, in order.
func (s *Server) patchUpload(w http.ResponseWriter, r *http.Request, name, id string) *apiError {
	up, e := s.uploads.get(name, client(r), id)
	if e != nil {
		return e
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if e := checkChunkStart(w, r, up, name, id); e != nil {
		return e
	}
	n, err := io.Copy(up.sum, r.Body)
	up.n += n
	if err != nil {
		return newError(http.StatusBadRequest, "BLOB_UPLOAD_INVALID", "reading the chunk: %v", err)
	}
	w.Header().Set("Location", uploadLocation(name, id))
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", rangeHeader(up.n))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// checkChunkStart refuses a chunk whose Content-Range does not start
// where the bytes received so far end: chunks come in order.
func checkChunkStart(w http.ResponseWriter, r *http.Request, up *upload, name, id string) *apiError {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return nil
	}
	start, _, ok := strings.Cut(cr, "-")
	if n, err := strconv.ParseInt(strings.TrimPrefix(start, "bytes="), 10, 64); !ok || err != nil || n != up.n {
		w.Header().Set("Location", uploadLocation(name, id))
		w.Header().Set("Range", rangeHeader(up.n))
		return newError(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID",
			"chunk at %q, but %d bytes were received: chunks must come in order", cr, up.n)
	}
	return nil
}

// rangeHeader is the Range of an upload of n bytes ("0-0" when empty, as
// registries answer).
func rangeHeader(n int64) string {
	if n == 0 {
		return "0-0"
	}
	return fmt.Sprintf("0-%d", n-1)
}

// finishUpload is PUT of a session, with ?digest= and maybe a last chunk.
func (s *Server) finishUpload(w http.ResponseWriter, r *http.Request, name, id string) *apiError {
	up, e := s.uploads.get(name, client(r), id)
	if e != nil {
		return e
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	// A last chunk out of order leaves the session open, as a PATCH would
	// (the client may send the right one); otherwise the session ends here
	// whatever happens, as the spec says of a failed PUT.
	if e := checkChunkStart(w, r, up, name, id); e != nil {
		return e
	}
	defer s.uploads.end(id)
	return s.complete(w, r, up, r.URL.Query().Get("digest"))
}

// complete reads the last bytes of an upload and accepts it if they have
// the digest and the cache has the blob.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, up *upload, digest string) *apiError {
	hexWant, e := parseDigest(digest)
	if e != nil {
		return e
	}
	n, err := io.Copy(up.sum, r.Body)
	up.n += n
	if err != nil {
		return newError(http.StatusBadRequest, "BLOB_UPLOAD_INVALID", "reading the upload: %v", err)
	}
	if got := hex.EncodeToString(up.sum.Sum(nil)); got != hexWant {
		return digestInvalid("the uploaded bytes have digest sha256:%s, not %s", got, digest)
	}
	// The bytes had the digest, so the blob has up.n bytes: the size is
	// confirmed by the upload itself, once the cache has the blob.
	d := cas.Digest{Hash: hexWant, Size: up.n}
	missing, err := s.blobs.Missing(r.Context(), []cas.Digest{d})
	if err != nil {
		return cacheUnavailable(err)
	}
	if len(missing) > 0 {
		return unsupported("blob %s (%d bytes) is not in the remote cache: this registry serves blobs from Bazel's remote cache and stores none itself; build the image with the cache (--remote_cache) so its blobs are there, or push it to another registry", digest, up.n)
	}
	if e := s.recordSize(d); e != nil {
		return e
	}
	if err := s.disk.putLink(up.name, hexWant); err != nil {
		return internal(err)
	}
	blobCreated(w, up.name, digest)
	return nil
}

func blobCreated(w http.ResponseWriter, name, digest string) {
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+digest)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// uploadStatus is GET of a session: how many bytes arrived.
func (s *Server) uploadStatus(w http.ResponseWriter, r *http.Request, name, id string) *apiError {
	up, e := s.uploads.get(name, client(r), id)
	if e != nil {
		return e
	}
	up.mu.Lock()
	n := up.n
	up.mu.Unlock()
	w.Header().Set("Location", uploadLocation(name, id))
	w.Header().Set("Docker-Upload-UUID", id)
	w.Header().Set("Range", rangeHeader(n))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// cancelUpload is DELETE of a session.
func (s *Server) cancelUpload(w http.ResponseWriter, r *http.Request, name, id string) *apiError {
	if _, e := s.uploads.get(name, client(r), id); e != nil {
		return e
	}
	s.uploads.end(id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
