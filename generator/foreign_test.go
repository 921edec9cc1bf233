package generator

import (
	"reflect"
	"testing"

	"github.com/rules-img/rules_img/tools/lock"
)

// foreignImage is base with a foreign layer (Docker's non-distributable
// type, with a url) on linux/amd64.
func foreignImage() lock.Image {
	img := baseImage()
	amd := img.Platforms["linux/amd64"]
	amd.Layers = append(append([]lock.Descriptor{}, amd.Layers...), lock.Descriptor{
		Digest: digest("f"), MediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Size: 77,
		URLs: []string{"https://example.com/layers/f.tar.gz"},
	})
	img.Platforms["linux/amd64"] = amd
	return img
}

// A foreign layer is never downloaded with the repository: whatever the
// handling but shallow, its blob is a remote_blob that tries its urls
// first, then the pull's registries.
func TestForeignLayers(t *testing.T) {
	wantSources := append([]string{"https://example.com/layers/f.tar.gz"}, registrySources(basePull())...)
	for _, tc := range []struct {
		handling string
		blobs    []string // of linux/amd64 in the pull repository
	}{
		{lock.Shallow, nil},
		{lock.Eager, []string{BlobFile(sharedLayer), BlobFile(baseAmdLayer2), ":" + blobRepoName(digest("f"))}},
		{lock.Lazy, []string{":" + blobRepoName(sharedLayer), ":" + blobRepoName(baseAmdLayer2), ":" + blobRepoName(digest("f"))}},
	} {
		t.Run(tc.handling, func(t *testing.T) {
			p := basePull()
			p.LayerHandling = tc.handling
			out, err := PullRepoBUILD(p, foreignImage())
			if err != nil {
				t.Fatal(err)
			}
			f := checkBUILD(t, "pull repo", out)
			if got := stringList(t, rule(t, f, "pulled_image", "linux_amd64"), "blobs"); !reflect.DeepEqual(got, tc.blobs) {
				t.Errorf("pull repo blobs = %v, want %v", got, tc.blobs)
			}
			for _, b := range f.Rules("remote_blob") {
				want := registrySources(p)
				if b.AttrString("digest") == digest("f") {
					want = wantSources
				}
				if got := stringList(t, b, "sources"); !reflect.DeepEqual(got, want) {
					t.Errorf("remote_blob %s sources %v, want %v", b.AttrString("digest"), got, want)
				}
			}

			plan, err := Generate(request(t, []lock.Pull{p}, map[string]lock.Image{"base": foreignImage()}))
			if err != nil {
				t.Fatal(err)
			}
			checkPlanBUILDs(t, plan)
			var blobRepos []string
			for _, n := range repoNames(plan) {
				if len(n) > len(blobPrefix) && n[:len(blobPrefix)] == blobPrefix {
					blobRepos = append(blobRepos, n)
				}
			}
			if tc.handling == lock.Shallow {
				if len(blobRepos) != 0 {
					t.Errorf("shallow: blob repositories %v", blobRepos)
				}
				return
			}
			foreign := repoByName(t, plan, blobRepoName(digest("f")))
			b := rule(t, checkBUILD(t, foreign.Name, foreign.Files["BUILD.bazel"]), "remote_blob", "blob")
			if got := stringList(t, b, "sources"); !reflect.DeepEqual(got, wantSources) {
				t.Errorf("blob repository sources %v, want %v", got, wantSources)
			}
			if tc.handling == lock.Eager && len(blobRepos) != 1 {
				t.Errorf("eager: blob repositories %v, want the foreign layer's only", blobRepos)
			}
			r := repoByName(t, plan, "base_linux_amd64")
			img := rule(t, checkBUILD(t, r.Name, r.Files["BUILD.bazel"]), "pulled_image", "image")
			if got := stringList(t, img, "blobs"); got[len(got)-1] != "@"+blobRepoName(digest("f"))+"//:blob" {
				t.Errorf("platform repo blobs = %v: the foreign layer's is its remote_blob", got)
			}
		})
	}
}
