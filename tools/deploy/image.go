package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/registry"
)

// Options say how layers without a local blob are read.
type Options struct {
	// Remote are the options for reading from source registries.
	Remote []remote.Option
	// Destination is the registry the image goes to, if any: a pulled layer
	// on the same registry is mounted rather than copied.
	Destination string
	// Mounts says where an earlier push put a blob, so that a later push to
	// another repository of that registry mounts it; nil: nowhere.
	Mounts MountSource
	// Meter, if set, follows each layer blob as it is read.
	Meter Meter
	// Cache, if set, holds the blobs of the layers built by Bazel (the lazy
	// strategy): they are streamed from it, and local blob files are not
	// read. Layers of pulled bases still come from their registries.
	Cache cas.Store
	// ReadFile reads the spec's manifests, configs and layer metadata; nil
	// means os.ReadFile. A server that has them elsewhere (in a remote
	// cache) passes its own.
	ReadFile func(path string) ([]byte, error)
	// Context bounds the cache reads; nil means context.Background().
	Context context.Context
}

// MountSource says where a pushed blob is.
type MountSource interface {
	Where(digest string) (name.Digest, bool)
}

func (o Options) where(digest string) (name.Digest, bool) {
	if o.Mounts == nil {
		return name.Digest{}, false
	}
	return o.Mounts.Where(digest)
}

func (o Options) read(path string) ([]byte, error) {
	if o.ReadFile != nil {
		return o.ReadFile(path)
	}
	return os.ReadFile(path)
}

// Meter follows the reading of each blob, for progress bars.
type Meter interface {
	Start(digest string, size int64)
	Add(digest string, n int64)
	Finish(digest string)
}

// Image builds a v1.Image from one manifest's files.
func Image(m ManifestFiles, o Options) (v1.Image, error) {
	manifest, err := o.read(m.Manifest)
	if err != nil {
		return nil, err
	}
	config, err := o.read(m.Config)
	if err != nil {
		return nil, err
	}
	var parsed v1.Manifest
	if err := json.Unmarshal(manifest, &parsed); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", m.Manifest, err)
	}
	if len(parsed.Layers) != len(m.Layers) {
		return nil, fmt.Errorf("manifest %s has %d layers, the spec %d", m.Manifest, len(parsed.Layers), len(m.Layers))
	}
	img := &image{raw: manifest, config: config, parsed: parsed}
	for i, files := range m.Layers {
		l, err := layer(parsed.Layers[i], files, o)
		if err != nil {
			return nil, err
		}
		img.layers = append(img.layers, l)
	}
	return img, nil
}

// layer opens one layer: from the remote cache (lazy), its blob file, or
// its source registry.
func layer(desc v1.Descriptor, files LayerFiles, o Options) (v1.Layer, error) {
	meta, err := readLayerMetadata(files.Metadata, o)
	if err != nil {
		return nil, err
	}
	if meta.Digest != desc.Digest.String() {
		return nil, fmt.Errorf("layer metadata %s is for %s, the manifest has %s", files.Metadata, meta.Digest, desc.Digest)
	}
	diffID, err := v1.NewHash(meta.DiffID)
	if err != nil {
		return nil, err
	}
	var built partial.CompressedLayer
	switch {
	case o.Cache != nil && len(meta.Sources) == 0:
		d, err := cas.ParseOCI(desc.Digest.String(), desc.Size)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", desc.Digest, err)
		}
		built = &cacheBlob{desc: desc, diffID: diffID, digest: d, cache: o.Cache, ctx: o.Context, meter: o.Meter}
	case o.Cache == nil && files.Blob != "":
		built = &fileLayer{desc: desc, diffID: diffID, path: files.Blob, meter: o.Meter}
	}
	if built != nil {
		l, err := partial.CompressedToLayer(built)
		if err != nil {
			return nil, err
		}
		if ref, ok := o.where(desc.Digest.String()); ok && ref.RegistryStr() == o.Destination {
			return &remote.MountableLayer{Layer: l, Reference: ref}, nil
		}
		if cb, ok := built.(*cacheBlob); ok {
			return &CacheLayer{Layer: l, Blob: cb.digest}, nil
		}
		return l, nil
	}
	if !desc.MediaType.IsDistributable() && len(desc.URLs) > 0 {
		// Foreign: a push leaves it out (go-containerregistry uploads no
		// non-distributable layer); a load reads it from its urls.
		return partial.CompressedToLayer(&foreignLayer{desc: desc, diffID: diffID, ctx: o.Context, meter: o.Meter})
	}
	if len(meta.Sources) == 0 {
		return nil, fmt.Errorf("layer %s has neither a blob nor a registry to read it from", desc.Digest)
	}
	source := pickSource(meta.Sources, o.Destination)
	ref, err := name.NewDigest(source + "@" + desc.Digest.String())
	if err != nil {
		return nil, fmt.Errorf("layer %s: source %q: %w", desc.Digest, source, err)
	}
	l, err := remote.Layer(ref, o.Remote...)
	if err != nil {
		return nil, fmt.Errorf("layer %s from %s: %w", desc.Digest, source, err)
	}
	// Mountable: on the same registry, the blob is mounted instead of copied;
	// elsewhere it is streamed from the source, never written to disk.
	return &remote.MountableLayer{Layer: &describedLayer{Layer: l, desc: desc, diffID: diffID, meter: o.Meter}, Reference: ref}, nil
}

// pickSource prefers a source on the destination registry.
func pickSource(sources []string, destination string) string {
	for _, s := range sources {
		if destination != "" && strings.HasPrefix(s, destination+"/") {
			return s
		}
	}
	return sources[0]
}

// image is a v1.Image whose manifest and config are files and whose layers
// are given as they are, so that mountable layers stay recognizable.
type image struct {
	raw, config []byte
	parsed      v1.Manifest
	layers      []v1.Layer
}

var _ partial.WithRawManifest = (*image)(nil)

func (i *image) MediaType() (types.MediaType, error) { return i.parsed.MediaType, nil }
func (i *image) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *image) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *image) Layers() ([]v1.Layer, error)         { return i.layers, nil }
func (i *image) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *image) Digest() (v1.Hash, error)            { return partial.Digest(i) }
func (i *image) Manifest() (*v1.Manifest, error)     { return &i.parsed, nil }
func (i *image) ConfigName() (v1.Hash, error)        { return i.parsed.Config.Digest, nil }

func (i *image) ConfigFile() (*v1.ConfigFile, error) {
	return v1.ParseConfigFile(strings.NewReader(string(i.config)))
}

func (i *image) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	if h == i.parsed.Config.Digest {
		return partial.ConfigLayer(i)
	}
	for j, d := range i.parsed.Layers {
		if d.Digest == h {
			return i.layers[j], nil
		}
	}
	return nil, fmt.Errorf("image has no layer %s", h)
}

func (i *image) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	for _, l := range i.layers {
		if d, err := l.DiffID(); err == nil && d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("image has no layer with diff_id %s", h)
}

// fileLayer is a layer blob built by Bazel.
type fileLayer struct {
	desc   v1.Descriptor
	diffID v1.Hash
	path   string
	meter  Meter
}

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

func (l *fileLayer) Compressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	return metered(f, l.desc, l.meter), nil
}

// CacheLayer is a layer whose blob is streamed from a remote cache when it
// is read (Options.Cache), so that a push can check the cache first.
type CacheLayer struct {
	v1.Layer
	// Blob is the layer blob's key in the cache.
	Blob cas.Digest
}

// cacheBlob reads a layer blob from a remote cache.
type cacheBlob struct {
	desc   v1.Descriptor
	diffID v1.Hash
	digest cas.Digest
	cache  cas.Store
	ctx    context.Context
	meter  Meter
}

func (l *cacheBlob) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *cacheBlob) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *cacheBlob) Size() (int64, error)                { return l.desc.Size, nil }
func (l *cacheBlob) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

// Compressed opens the cache stream; it checks the sha256 and size as it
// is read, so a wrong blob fails the upload before the registry commits it.
func (l *cacheBlob) Compressed() (io.ReadCloser, error) {
	ctx := l.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	rc, err := l.cache.Open(ctx, l.digest)
	if err != nil {
		return nil, err
	}
	return metered(rc, l.desc, l.meter), nil
}

// foreignLayer is a foreign (non-distributable) layer of a pulled base
// whose bytes are not in the build: read from its urls, in order, as
// runtimes do when they pull it.
type foreignLayer struct {
	desc   v1.Descriptor
	diffID v1.Hash
	ctx    context.Context
	meter  Meter
}

func (l *foreignLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *foreignLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *foreignLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *foreignLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

// Descriptor keeps the urls in the descriptors that go-containerregistry
// writes of the layer.
func (l *foreignLayer) Descriptor() (*v1.Descriptor, error) {
	d := l.desc
	return &d, nil
}

// Compressed opens the first url that answers; the reader stops at the
// declared size and fails on a wrong digest.
func (l *foreignLayer) Compressed() (io.ReadCloser, error) {
	ctx := l.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	var errs []error
	for _, u := range l.desc.URLs {
		rc, err := registry.OpenURL(ctx, u)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return metered(&sizedReader{ReadCloser: &verifiedReader{ReadCloser: rc, want: l.desc.Digest, hash: sha256.New()}, desc: l.desc, left: l.desc.Size}, l.desc, l.meter), nil
	}
	return nil, fmt.Errorf("foreign layer %s: no url serves it: %w", l.desc.Digest, errors.Join(errs...))
}

// verifiedReader fails at the end of the stream when what it read does not
// have the digest want.
type verifiedReader struct {
	io.ReadCloser
	want v1.Hash
	hash hash.Hash
}

func (r *verifiedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.hash.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(r.hash.Sum(nil)); got != r.want.Hex {
			return n, fmt.Errorf("layer %s: its url served content of digest sha256:%s", r.want, got)
		}
	}
	return n, err
}

// readLayerMetadata reads and validates a layer metadata file.
func readLayerMetadata(path string, o Options) (blob.LayerMetadata, error) {
	if o.ReadFile == nil {
		return blob.ReadLayerMetadata(path)
	}
	data, err := o.ReadFile(path)
	if err != nil {
		return blob.LayerMetadata{}, err
	}
	return blob.ParseLayerMetadata(data, path)
}

// SourceOf tells whether l is read from a source registry (a layer of a
// pulled base, shallow or not) rather than from a file or the remote
// cache, and names it there.
func SourceOf(l v1.Layer) (name.Digest, bool) {
	if m, ok := l.(*remote.MountableLayer); ok {
		if _, ok := m.Layer.(*describedLayer); ok {
			return m.Reference.(name.Digest), true
		}
	}
	return name.Digest{}, false
}

// describedLayer is a registry layer that answers size, media type and
// diff_id from the manifest and config rather than asking the registry.
type describedLayer struct {
	v1.Layer
	desc   v1.Descriptor
	diffID v1.Hash
	meter  Meter
}

func (l *describedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return metered(&sizedReader{ReadCloser: rc, desc: l.desc, left: l.desc.Size}, l.desc, l.meter), nil
}

// sizedReader reads a source registry's blob and fails once it sends more
// than the descriptor's size: a copy never streams more than it declared.
type sizedReader struct {
	io.ReadCloser
	desc v1.Descriptor
	left int64
}

func (r *sizedReader) Read(p []byte) (int, error) {
	if int64(len(p)) > r.left+1 {
		p = p[:r.left+1]
	}
	n, err := r.ReadCloser.Read(p)
	if int64(n) > r.left {
		return 0, fmt.Errorf("layer %s: the source sends more than the %d bytes its descriptor declares", r.desc.Digest, r.desc.Size)
	}
	r.left -= int64(n)
	return n, err
}

// metered reports the bytes read from rc to m.
func metered(rc io.ReadCloser, desc v1.Descriptor, m Meter) io.ReadCloser {
	if m == nil {
		return rc
	}
	m.Start(desc.Digest.String(), desc.Size)
	return &meteredReader{ReadCloser: rc, digest: desc.Digest.String(), meter: m}
}

type meteredReader struct {
	io.ReadCloser
	digest string
	meter  Meter
	done   bool
}

func (r *meteredReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if n > 0 {
		r.meter.Add(r.digest, int64(n))
	}
	if err == io.EOF && !r.done {
		r.done = true
		r.meter.Finish(r.digest)
	}
	return n, err
}

func (r *meteredReader) Close() error {
	if !r.done {
		r.done = true
		r.meter.Finish(r.digest)
	}
	return r.ReadCloser.Close()
}

func (l *describedLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *describedLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *describedLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *describedLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
