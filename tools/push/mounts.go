package push

import (
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
)

// Mounts records where pushed blobs are, so that a later push to another
// repository of the registry mounts them instead of uploading them again.
// Pushes that run at once share it: the first to need a blob claims it,
// and the others wait for that push and then mount the blob. A push waits
// only for claims made before its own, so no two wait for each other.
type Mounts struct {
	mu      sync.Mutex
	done    map[string]name.Digest
	pending map[string]chan struct{}
}

// NewMounts returns an empty record.
func NewMounts() *Mounts {
	return &Mounts{done: map[string]name.Digest{}, pending: map[string]chan struct{}{}}
}

// Where implements deploy.MountSource.
func (m *Mounts) Where(digest string) (name.Digest, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ref, ok := m.done[digest]
	return ref, ok
}

// claim takes the blobs that no push has or pushes, and returns them and
// what to wait for: the pushes that have the others in flight.
func (m *Mounts) claim(digests []string) (claimed []string, wait []chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mine := map[string]bool{}
	for _, d := range digests {
		if _, ok := m.done[d]; ok || mine[d] {
			continue // there, or claimed here already (an index repeats blobs)
		}
		if ch, ok := m.pending[d]; ok {
			wait = append(wait, ch)
			continue
		}
		m.pending[d] = make(chan struct{})
		mine[d] = true
		claimed = append(claimed, d)
	}
	return claimed, wait
}

// release ends the claims; with a repository, the blobs are there now.
func (m *Mounts) release(claimed []string, repo *name.Repository) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range claimed {
		if repo != nil {
			if _, ok := m.done[d]; !ok {
				m.done[d] = repo.Digest(d)
			}
		}
		if ch, ok := m.pending[d]; ok {
			close(ch)
			delete(m.pending, d)
		}
	}
}

// record notes blobs pushed without a claim.
func (m *Mounts) record(digests []string, repo name.Repository) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range digests {
		if _, ok := m.done[d]; !ok {
			m.done[d] = repo.Digest(d)
		}
	}
}
