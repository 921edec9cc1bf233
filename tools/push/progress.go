package push

import (
	"fmt"
	"io"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Progress returns where blob events go: on a terminal, a line per blob
// above a live byte counter; elsewhere, plain log lines.
func Progress(w *os.File) (log func(string), updates chan v1.Update) {
	info, err := w.Stat()
	if err != nil || info.Mode()&os.ModeCharDevice == 0 {
		return func(line string) { fmt.Fprintln(w, line) }, nil
	}
	bar := &terminalBar{w: w}
	updates = make(chan v1.Update, 16)
	go func() {
		for u := range updates {
			bar.update(u)
		}
	}()
	return bar.line, updates
}

// terminalBar keeps one status line at the bottom of the terminal.
type terminalBar struct {
	mu     sync.Mutex
	w      io.Writer
	status string
}

func (b *terminalBar) line(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(b.w, "\r\033[K%s\n%s", s, b.status)
}

func (b *terminalBar) update(u v1.Update) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if u.Total <= 0 {
		return
	}
	const width = 30
	done := int(width * u.Complete / u.Total)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < done {
			bar[i] = '='
		}
	}
	b.status = fmt.Sprintf("[%s] %s of %s", bar, HumanBytes(u.Complete), HumanBytes(u.Total))
	fmt.Fprintf(b.w, "\r\033[K%s", b.status)
}
