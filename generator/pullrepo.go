package generator

import (
	"fmt"
	"strings"

	"github.com/rules-img/rules_img/tools/lock"
)

// PullRepoBUILD writes the BUILD file of a `pull` repository: everything of
// one image in one repository. The target named after the pull is the
// pulled index, or for a single manifest an alias of its image; each
// platform's image is a target named after it (PlatformDir), whose
// descriptor and layer metadata are in the folder of the same name. Layer
// blobs of a lazy pull are remote_blob targets of the same repository.
func PullRepoBUILD(p lock.Pull, img lock.Image) (string, error) {
	platforms := img.InIndexOrder()
	if len(platforms) == 0 {
		return "", fmt.Errorf("the image of %s has no platform", p.Name)
	}
	f := newBuildFile()
	blobs := map[string]*remoteBlob{} // digest → size and sources
	var blobOrder []string
	lazyLabel := func(layer lock.Descriptor) string {
		b, ok := blobs[layer.Digest]
		if !ok {
			b = &remoteBlob{Size: layer.Size}
			blobs[layer.Digest] = b
			blobOrder = append(blobOrder, layer.Digest)
		}
		b.Sources = appendUnique(b.Sources, blobSources(p, layer)...)
		return ":" + blobRepoName(layer.Digest)
	}
	if img.IsIndex() {
		var manifests []string
		for _, platform := range indexManifests(img) {
			manifests = append(manifests, ":"+PlatformDir(platform))
		}
		if err := addPulledIndex(f, p.Name, p, img, manifests); err != nil {
			return "", err
		}
	} else if err := addAlias(f, p.Name, ":"+PlatformDir(platforms[0])); err != nil {
		return "", err
	}
	for _, platform := range platforms {
		target := PlatformDir(platform)
		if target == p.Name || strings.HasPrefix(p.Name, blobPrefix) {
			return "", fmt.Errorf("pull %q: the name is also a target of its repository: rename the pull", p.Name)
		}
		entry := img.Platforms[platform]
		layerBlobs, err := layerBlobs(p, entry, lazyLabel)
		if err != nil {
			return "", err
		}
		if err := addPulledImage(f, target, target+"/", p, entry, layerBlobs); err != nil {
			return "", err
		}
	}
	for _, d := range blobOrder {
		if err := addRemoteBlob(f, blobRepoName(d), d, *blobs[d]); err != nil {
			return "", err
		}
	}
	return f.format(), nil
}
