package push

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rules-img/rules_img/tools/deploy"
)

// Progress returns where blob events go: on a terminal, a line per blob
// above a live byte counter; elsewhere, plain log lines.
func Progress(w *os.File) (log func(string), updates chan v1.Update) {
	log, updates, _ = ProgressWithMeter(w)
	return log, updates
}

// ProgressWithMeter is Progress plus, on a terminal, a bar per blob being
// uploaded (meter is nil elsewhere).
func ProgressWithMeter(w *os.File) (log func(string), updates chan v1.Update, meter deploy.Meter) {
	info, err := w.Stat()
	if err != nil || info.Mode()&os.ModeCharDevice == 0 {
		return func(line string) { fmt.Fprintln(w, line) }, nil, nil
	}
	bar := &terminalBar{w: w, blobs: map[string]*blobState{}}
	updates = make(chan v1.Update, 16)
	go func() {
		for u := range updates {
			bar.update(u)
		}
	}()
	return bar.line, updates, bar
}

type blobState struct {
	digest      string
	sent, total int64
}

// terminalBar keeps, at the bottom of the terminal, a bar per blob being
// uploaded and a line with the bytes of the whole push.
type terminalBar struct {
	mu     sync.Mutex
	w      io.Writer
	status string
	blobs  map[string]*blobState
	order  []string
	drawn  int // lines drawn below the log
}

func (b *terminalBar) line(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
	fmt.Fprintf(b.w, "%s\n", s)
	b.draw()
}

func (b *terminalBar) update(u v1.Update) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if u.Total <= 0 {
		return
	}
	b.status = fmt.Sprintf("%s %s of %s", bar(u.Complete, u.Total), HumanBytes(u.Complete), HumanBytes(u.Total))
	b.redraw()
}

func (b *terminalBar) Start(digest string, size int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.blobs[digest]; ok {
		s.sent = 0 // a retry reads the blob again
	} else {
		b.blobs[digest] = &blobState{digest: digest, total: size}
		b.order = append(b.order, digest)
	}
	b.redraw()
}

func (b *terminalBar) Add(digest string, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.blobs[digest]; ok {
		s.sent += n
		b.redraw()
	}
}

func (b *terminalBar) Finish(digest string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.blobs, digest)
	for i, d := range b.order {
		if d == digest {
			b.order = append(b.order[:i], b.order[i+1:]...)
			break
		}
	}
	b.redraw()
}

// clear erases the lines drawn below the log; the cursor ends where the
// first of them was.
func (b *terminalBar) clear() {
	if b.drawn > 1 {
		fmt.Fprintf(b.w, "\033[%dA", b.drawn-1)
	}
	fmt.Fprint(b.w, "\r\033[J")
	b.drawn = 0
}

func (b *terminalBar) draw() {
	var lines []string
	for _, d := range b.order {
		s := b.blobs[d]
		lines = append(lines, fmt.Sprintf("%s %s %s / %s", shortDigest(d), bar(s.sent, s.total), HumanBytes(s.sent), HumanBytes(s.total)))
	}
	if b.status != "" {
		lines = append(lines, b.status)
	}
	fmt.Fprint(b.w, strings.Join(lines, "\n"))
	b.drawn = len(lines)
}

func (b *terminalBar) redraw() {
	b.clear()
	b.draw()
}

func bar(done, total int64) string {
	const width = 30
	filled := 0
	if total > 0 {
		filled = int(width * min(done, total) / total)
	}
	return "[" + strings.Repeat("=", filled) + strings.Repeat(" ", width-filled) + "]"
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}

// Clear removes the bars, before results are printed below them.
func (b *terminalBar) Clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clear()
	b.status = ""
}

// ClearProgress removes the bars of meter, if it draws any.
func ClearProgress(meter deploy.Meter) {
	if c, ok := meter.(interface{ Clear() }); ok {
		c.Clear()
	}
}
