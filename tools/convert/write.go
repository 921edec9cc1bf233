package convert

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/index"
	"github.com/rules-img/rules_img/tools/manifest"
)

// Outputs are the files of one converted image.
type Outputs struct {
	Manifest   string
	Config     string
	Descriptor string
	Digest     string
	// LayerBlobs and LayerMetadata have one path per layer, in manifest order.
	LayerBlobs    []string
	LayerMetadata []string
}

// starlarkNames are the constants of @rules_img//img:media_types.bzl, for
// messages that say what to write.
var starlarkNames = map[string]string{
	ocispec.MediaTypeImageLayer:     "UNCOMPRESSED_LAYER",
	ocispec.MediaTypeImageLayerGzip: "GZIP_LAYER",
	ocispec.MediaTypeImageLayerZstd: "ZSTD_LAYER",
}

// CheckLayers compares the image's layers with the media types a rule
// declares (its `layers` attribute), which fix the layer count at analysis.
func (img Image) CheckLayers(declared []string) error {
	have := make([]string, len(img.Layers))
	for i, l := range img.Layers {
		have[i] = manifest.OCILayerType(l.MediaType)
	}
	if slices.Equal(have, declared) {
		return nil
	}
	names := make([]string, len(have))
	for i, t := range have {
		if name, ok := starlarkNames[t]; ok {
			names[i] = name
		} else {
			names[i] = fmt.Sprintf("%q", t)
		}
	}
	return fmt.Errorf("the layout's image for %s (%s) has %d layers, of types %s; layers declares %d, of types %s: set layers = [%s] (names from @rules_img//img:media_types.bzl)",
		img.Platform(), img.Descriptor.Digest, len(have), strings.Join(have, ", "), len(declared), strings.Join(declared, ", "), strings.Join(names, ", "))
}

// Write writes the image's files. With link (the layout is a build output,
// never written again), a layer blob is a hard link to the layout's file
// where the file system allows it, else a kernel copy; without it, a copy
// checked against its digest.
func (l Layout) Write(img Image, out Outputs, link bool) error {
	if len(out.LayerBlobs) != len(img.Layers) || len(out.LayerMetadata) != len(img.Layers) {
		return fmt.Errorf("%d layer blob and %d layer metadata outputs for %d layers", len(out.LayerBlobs), len(out.LayerMetadata), len(img.Layers))
	}
	for i, layer := range img.Layers {
		if err := l.writeBlob(layer, out.LayerBlobs[i], link); err != nil {
			return fmt.Errorf("layer %d of %s: %w", i, img.Platform(), err)
		}
		meta := blob.LayerMetadata{
			MediaType:   layer.MediaType,
			Digest:      layer.Digest.String(),
			Size:        layer.Size,
			DiffID:      img.DiffIDs[i].String(),
			Annotations: layer.Annotations,
		}
		if err := meta.Validate(); err != nil {
			return fmt.Errorf("layer %d of %s: %w", i, img.Platform(), err)
		}
		if err := blob.WriteJSON(out.LayerMetadata[i], meta); err != nil {
			return err
		}
	}
	if err := blob.WriteFileAtomic(out.Manifest, img.Manifest); err != nil {
		return err
	}
	if err := blob.WriteFileAtomic(out.Config, img.Config); err != nil {
		return err
	}
	if out.Digest != "" {
		if err := blob.WriteFileAtomic(out.Digest, []byte(img.Descriptor.Digest)); err != nil {
			return err
		}
	}
	return blob.WriteJSON(out.Descriptor, img.Descriptor)
}

func (l Layout) writeBlob(d ocispec.Descriptor, dst string, link bool) error {
	src, err := l.blobPath(d.Digest)
	if err != nil {
		return err
	}
	info, err := os.Stat(src)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob %s is missing from the layout (no %s): the layout must hold every layer", d.Digest, src)
	}
	if err != nil {
		return err
	}
	if info.Size() != d.Size {
		return fmt.Errorf("blob %s: %s has %d bytes, its descriptor declares %d", d.Digest, src, info.Size(), d.Size)
	}
	if link {
		return linkOrCopy(src, dst, d.Size)
	}
	return copyVerified(src, dst, d)
}

// linkOrCopy hard-links dst to src, or where it cannot (another file
// system, or a sandbox that mounts inputs apart) copies it in the kernel.
func linkOrCopy(src, dst string, size int64) error {
	// Bazel's sandbox gives inputs as symlinks: link the file itself.
	if real, err := filepath.EvalSymlinks(src); err == nil {
		os.Remove(dst)
		if os.Link(real, dst) == nil {
			return nil
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	// *os.File to *os.File: copy_file_range, a reflink where supported.
	n, err := io.Copy(f, in)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("%s changed while it was copied: %d bytes, not %d", src, n, size)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// copyVerified copies src to dst through a temporary file, and keeps it
// only when its size and digest are d's.
func copyVerified(src, dst string, d ocispec.Descriptor) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := blob.NewDigestWriter(f)
	_, err = io.Copy(w, io.LimitReader(in, d.Size+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && (w.Size() != d.Size || w.Digest() != d.Digest.String()) {
		err = fmt.Errorf("blob %s: %s has %d bytes of digest %s", d.Digest, src, w.Size(), w.Digest())
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// Index is the index of images, in their order: one of the layout's own
// indexes, byte for byte, when it lists exactly these manifests, else a new
// OCI index of them.
func (c Contents) Index(images []Image) (index.Result, error) {
	want := make([]digest.Digest, len(images))
	for i, img := range images {
		want[i] = img.Descriptor.Digest
	}
	for _, idx := range c.indexes {
		if slices.Equal(idx.manifests, want) {
			d := ocispec.Descriptor{MediaType: idx.descriptor.MediaType, Digest: idx.descriptor.Digest, Size: idx.descriptor.Size}
			return index.Result{Index: bytes.Clone(idx.raw), Descriptor: d}, nil
		}
	}
	manifests := make([]index.Manifest, len(images))
	for i, img := range images {
		manifests[i] = index.Manifest{Descriptor: img.Descriptor, Name: img.Platform()}
	}
	return index.Build(manifests, nil)
}
