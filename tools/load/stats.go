package load

import (
	"fmt"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rules-img/rules_img/tools/push"
)

// Stats count what loads did with each blob.
type Stats struct {
	Present int64 // blobs the daemon had
	Written int64 // blobs written (or streamed, for docker load)
	Bytes   int64 // bytes written (or streamed)
	Names   int64 // image names created or moved
}

func (s *Stats) String() string {
	return fmt.Sprintf("%d blobs already there, %d written (%s), %d image names set",
		atomic.LoadInt64(&s.Present), atomic.LoadInt64(&s.Written),
		push.HumanBytes(atomic.LoadInt64(&s.Bytes)), atomic.LoadInt64(&s.Names))
}

// progress reports blob events: a line per blob to log, and the bytes done
// so far to updates.
type progress struct {
	mu       sync.Mutex
	log      func(string)
	updates  chan<- v1.Update
	total    int64
	complete int64
}

func (p *progress) logf(format string, args ...any) {
	if p.log == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log(fmt.Sprintf(format, args...))
}

// add counts n more bytes done.
func (p *progress) add(n int64) {
	if p.updates == nil || n == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.complete += n
	p.updates <- v1.Update{Total: p.total, Complete: p.complete}
}

// countingReader reports the bytes read through it.
type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	c.p.add(int64(n))
	return n, err
}

func addInt(p *int64, n int64) { atomic.AddInt64(p, n) }

func humanBytes(n int64) string { return push.HumanBytes(n) }

// Add adds o's counts to s.
func (s *Stats) Add(o *Stats) {
	addInt(&s.Present, atomic.LoadInt64(&o.Present))
	addInt(&s.Written, atomic.LoadInt64(&o.Written))
	addInt(&s.Bytes, atomic.LoadInt64(&o.Bytes))
	addInt(&s.Names, atomic.LoadInt64(&o.Names))
}
