package generator

import (
	"fmt"
	"strings"

	"github.com/rules-img/rules_img/tools/lock"
)

// PullRepoBUILD writes the BUILD file of a `pull` repository: everything of
// one image in one repository. Each platform's fetched files are in a
// folder named after it (PlatformDir), and layer blobs are remote_blob
// targets of the same repository.
func PullRepoBUILD(name string, p lock.Pull, img lock.Image) (string, error) {
	f := newBuildFile()
	actuals := map[string]string{}
	var settings []string
	blobs := map[string]bool{}
	var blobOrder []string
	platforms := selectable(img)
	if len(platforms) == 0 {
		return "", fmt.Errorf("the image of %s has only platforms that have no Bazel constraints here (%s): name the platforms to use", name, strings.Join(img.PlatformNames(), ", "))
	}
	for _, platform := range platforms {
		target := targetName(platform)
		if err := addPlatform(f, platform, ":"+target+"_image", actuals, &settings); err != nil {
			return "", err
		}
		err := addPulledImage(f, target+"_image", PlatformDir(platform)+"/", platform, img.Platforms[platform], func(digest string) string {
			if !blobs[digest] {
				blobs[digest] = true
				blobOrder = append(blobOrder, digest)
			}
			return ":" + blobRepoName(digest)
		})
		if err != nil {
			return "", err
		}
	}
	noMatch := fmt.Sprintf("@%s has no image for the target platform: it has %s. Build for one of them (--platforms), or name the platform in the pull's platforms",
		name, strings.Join(platforms, ", "))
	if err := addImageAlias(f, name, settings, actuals, noMatch); err != nil {
		return "", err
	}
	for _, d := range blobOrder {
		if err := addRemoteBlob(f, blobRepoName(d), d, registrySources(p)); err != nil {
			return "", err
		}
	}
	return f.format(), nil
}

// PlatformDir is the folder of one platform's files in a pull repository.
func PlatformDir(platform string) string { return targetName(platform) }
