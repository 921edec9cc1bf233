package generator

import (
	"fmt"
	"strings"

	"github.com/bazelbuild/buildtools/build"

	"github.com/rules-img/rules_img/tools/lock"
)

// The files of a pulled image's repository. What was downloaded is kept
// by digest, as in an OCI layout; what the img tool writes has a name.
const (
	// DescriptorFile is the descriptor of a manifest (in its platform's
	// folder) or of the pulled index (at the top of the repository).
	DescriptorFile = "descriptor.json"
	// IndexFile is the pulled index: the source index's bytes when every
	// manifest it lists was pulled, else a new index of the pulled ones.
	IndexFile = "index.json"
)

// BlobFile is where a downloaded manifest, index, config or layer is kept.
func BlobFile(digest string) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:")
}

// LayerFile is the metadata file of layer i.
func LayerFile(i int) string { return fmt.Sprintf("layer_%d.json", i) }

// PlatformDir is the folder of one platform's files in a pull repository,
// and the name of its target: "linux/arm64/v8" → "linux_arm64_v8".
func PlatformDir(platform string) string { return strings.ReplaceAll(platform, "/", "_") }

// layerBlobs gives the blob of each layer, or nil when the layers' bytes
// are not part of the build: files of the repository when they were
// downloaded with it (eager), or the remote_blob target that lazyLabel
// names (lazy). A foreign layer is never downloaded with the repository:
// its blob is a remote_blob (from its urls) whatever the handling but
// shallow, downloaded only when an output needs its bytes.
func layerBlobs(p lock.Pull, entry lock.Platform, lazyLabel func(layer lock.Descriptor) string) ([]string, error) {
	var out []string
	for _, l := range entry.Layers {
		switch p.LayerHandling {
		case lock.Shallow:
			return nil, nil
		case lock.Eager:
			if l.Foreign() {
				out = append(out, lazyLabel(l))
			} else {
				out = append(out, BlobFile(l.Digest))
			}
		case lock.Lazy:
			out = append(out, lazyLabel(l))
		default:
			return nil, fmt.Errorf("pull %q: layer_handling %q is not shallow, eager or lazy", p.Name, p.LayerHandling)
		}
	}
	return out, nil
}

// blobSources are the places a layer's remote_blob downloads it from, in
// order: a foreign layer's urls first (registries need not have it), then
// the pull's registries.
func blobSources(p lock.Pull, layer lock.Descriptor) []string {
	var out []string
	if layer.Foreign() {
		out = append(out, layer.URLs...)
	}
	return append(out, registrySources(p)...)
}

// addPulledImage renders the pulled_image target of one platform; dir is
// the folder of its descriptor and layer metadata ("" or "linux_amd64/").
func addPulledImage(f *buildFile, name, dir string, p lock.Pull, entry lock.Platform, blobs []string) error {
	var layers, digests, mediaTypes []string
	for i, l := range entry.Layers {
		layers = append(layers, dir+LayerFile(i))
		digests = append(digests, l.Digest)
		mediaTypes = append(mediaTypes, l.MediaType)
	}
	return f.add("pulled_image", map[string]build.Expr{
		"NAME":          str(name),
		"ARCHITECTURE":  str(entry.Platform.Architecture),
		"BLOBS":         strList(blobs),
		"CONFIG":        str(BlobFile(entry.Config.Digest)),
		"DESCRIPTOR":    str(dir + DescriptorFile),
		"DIGEST":        str(entry.Manifest.Digest),
		"LAYERS":        strList(layers),
		"LAYER_DIGESTS": strList(digests),
		"MANIFEST":      str(BlobFile(entry.Manifest.Digest)),
		"MEDIA_TYPES":   strList(mediaTypes),
		"OS":            str(entry.Platform.OS),
		"PLATFORM":      platformDict(entry.Platform),
		"REGISTRIES":    strList(p.Registries),
		"REPOSITORY":    str(p.Repository),
		"TAG":           str(p.Tag),
	})
}

// platformDict is ImageManifestInfo.platform: the OCI platform beyond os
// and architecture, with lists comma-separated.
func platformDict(pl lock.OCIPlatform) build.Expr {
	values := map[string]string{
		"variant":     pl.Variant,
		"os.version":  pl.OSVersion,
		"os.features": strings.Join(pl.OSFeatures, ","),
		"features":    strings.Join(pl.Features, ","),
	}
	dict := &build.DictExpr{}
	for _, k := range []string{"features", "os.features", "os.version", "variant"} {
		if values[k] != "" {
			dict.List = append(dict.List, &build.KeyValueExpr{Key: str(k), Value: str(values[k])})
		}
	}
	dict.ForceMultiLine = len(dict.List) > 1
	return dict
}

// addPulledIndex renders the pulled_index target of an image; manifests
// label its pulled_image targets in the index's order.
func addPulledIndex(f *buildFile, name string, p lock.Pull, img lock.Image, manifests []string) error {
	return f.add("pulled_index", map[string]build.Expr{
		"NAME":       str(name),
		"DESCRIPTOR": str(DescriptorFile),
		"DIGEST":     str(img.Digest),
		"INDEX":      str(IndexFile),
		"MANIFESTS":  strList(manifests),
		"REGISTRIES": strList(p.Registries),
		"REPOSITORY": str(p.Repository),
		"TAG":        str(p.Tag),
	})
}

func addAlias(f *buildFile, name, actual string) error {
	return f.add("alias", map[string]build.Expr{"NAME": str(name), "ACTUAL": str(actual)})
}

// indexManifests lists the platforms whose manifests make up the pulled
// index, in the index's order: one per manifest, as two platforms of a
// pull (linux/arm64 and linux/arm64/v8) may name the same manifest.
func indexManifests(img lock.Image) []string {
	seen := map[string]bool{}
	var out []string
	for _, name := range img.InIndexOrder() {
		d := img.Platforms[name].Manifest.Digest
		if !seen[d] {
			seen[d] = true
			out = append(out, name)
		}
	}
	return out
}

// PulledDigests lists the digests of the manifests of the pulled index, in
// the index's order.
func PulledDigests(img lock.Image) []string {
	var out []string
	for _, name := range indexManifests(img) {
		out = append(out, img.Platforms[name].Manifest.Digest)
	}
	return out
}
