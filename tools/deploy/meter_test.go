package deploy

import (
	"io"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

type recordingMeter struct {
	mu       sync.Mutex
	size     map[string]int64
	sent     map[string]int64
	finished map[string]int
}

func (m *recordingMeter) Start(d string, size int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.size[d], m.sent[d] = size, 0
}

func (m *recordingMeter) Add(d string, n int64) { m.mu.Lock(); m.sent[d] += n; m.mu.Unlock() }
func (m *recordingMeter) Finish(d string)       { m.mu.Lock(); m.finished[d]++; m.mu.Unlock() }

func TestMeterFollowsEachLayerRead(t *testing.T) {
	root := t.TempDir()
	_, spec := writeImage(t, root)
	r := resolver{root: root, workspace: "_main"}
	m := spec.Manifests[0]
	m.Manifest, m.Config = r.path(m.Manifest), r.path(m.Config)
	for i := range m.Layers {
		m.Layers[i].Metadata, m.Layers[i].Blob = r.path(m.Layers[i].Metadata), r.path(m.Layers[i].Blob)
	}
	meter := &recordingMeter{size: map[string]int64{}, sent: map[string]int64{}, finished: map[string]int{}}
	img, err := Image(m, Options{Meter: meter})
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.(interface{ Layers() ([]v1.Layer, error) }).Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, rc)
		rc.Close()
		d, _ := l.Digest()
		size, _ := l.Size()
		if meter.size[d.String()] != size || meter.sent[d.String()] != size || meter.finished[d.String()] != 1 {
			t.Errorf("layer %s: size %d sent %d finished %d times; want %d, %d, once",
				d, meter.size[d.String()], meter.sent[d.String()], meter.finished[d.String()], size, size)
		}
	}
}
