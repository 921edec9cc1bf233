// Package generator decides the repositories of the images module extension
// and writes their BUILD files from templates, as syntax trees.
package generator

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/bazelbuild/buildtools/build"

	"github.com/rules-img/rules_img/tools/lock"
)

// Request is what the module extension passes: every pull tag of every
// module, and the root module's lockfile.
type Request struct {
	Pulls []lock.Pull `json:"pulls"`
	// Lockfile is the lockfile's content; empty when it does not exist yet.
	Lockfile string `json:"lockfile"`
	// LockfileLabel names the lockfile in messages; empty when MODULE.bazel
	// has no images.lockfile tag.
	LockfileLabel string `json:"lockfile_label"`
	// LockfilePath is the lockfile's path in the root module, for the update command.
	LockfilePath string `json:"lockfile_path"`
	// Hub is the name of the repository that holds the update command.
	Hub string `json:"hub"`
}

// Plan lists the repositories to create.
type Plan struct {
	Repos []Repo `json:"repos"`
}

// Repo is one repository: files written as they are, after an optional fetch.
type Repo struct {
	Name  string            `json:"name"`
	Files map[string]string `json:"files"`
	// Fetch makes the repository download an index or a platform's
	// manifest and config (verified against their digests) before its
	// files are written.
	Fetch *Fetch `json:"fetch,omitempty"`
}

// Kinds of Fetch.
const (
	// FetchIndex downloads an index and writes IndexFile and its
	// DescriptorFile.
	FetchIndex = "index"
	// FetchManifest downloads a platform's manifest and config (and its
	// layers, with Layers) and writes its DescriptorFile and LayerFiles.
	FetchManifest = "manifest"
)

// Fetch says what a repository downloads, and from where.
type Fetch struct {
	Kind       string   `json:"kind"`
	Registries []string `json:"registries"`
	Repository string   `json:"repository"`
	// Downloader is lock.ImgTool or lock.Bazel.
	Downloader string `json:"downloader"`
	Digest     string `json:"digest"`
	// MediaType is the manifest's (FetchManifest).
	MediaType string `json:"media_type,omitempty"`
	// Platform is the manifest's, as the index says it (FetchManifest).
	Platform *lock.OCIPlatform `json:"platform,omitempty"`
	// Layers downloads the manifest's layer blobs too: eager layer
	// handling (FetchManifest).
	Layers bool `json:"layers,omitempty"`
	// Manifests are the digests of the pulled manifests, which the
	// repository's index lists (FetchIndex).
	Manifests []string `json:"manifests,omitempty"`
}

// blobPrefix starts the names of layer blob repositories.
const blobPrefix = "blob_sha256_"

// Generate validates the request and plans every repository.
func Generate(req Request) (Plan, error) {
	if err := validate(req); err != nil {
		return Plan{}, err
	}
	locked, err := lock.Parse([]byte(req.Lockfile), req.LockfileLabel)
	if err != nil {
		return Plan{}, err
	}
	hub, err := hubRepo(req)
	if err != nil {
		return Plan{}, err
	}
	plan := Plan{Repos: []Repo{hub}}
	blobs := map[string]*remoteBlob{} // digest → where to fetch it, and its size
	owners := map[string]string{}     // repository name → pull that needs it
	for _, p := range req.Pulls {
		repos, err := pullRepos(req, p, locked, blobs)
		if err != nil {
			return Plan{}, err
		}
		// A platform repository is named <pull>_<platform>, which another
		// pull may be named too.
		for _, r := range repos {
			if other, ok := owners[r.Name]; ok {
				return Plan{}, fmt.Errorf("pulls %q and %q both need a repository named %q: rename one of them", other, p.Name, r.Name)
			}
			owners[r.Name] = p.Name
		}
		plan.Repos = append(plan.Repos, repos...)
	}
	blobRepos, err := remoteBlobRepos(blobs)
	if err != nil {
		return Plan{}, err
	}
	plan.Repos = append(plan.Repos, blobRepos...)
	return plan, nil
}

func validate(req Request) error {
	if err := lock.ValidatePulls(req.Pulls); err != nil {
		return err
	}
	for _, p := range req.Pulls {
		if p.Name == req.Hub || strings.HasPrefix(p.Name, blobPrefix) {
			return fmt.Errorf("pull name %q is reserved: choose another name", p.Name)
		}
		if p.LayerHandling == "" || p.Downloader == "" {
			return fmt.Errorf("pull %q: the request gives no layer_handling or downloader", p.Name)
		}
	}
	if len(req.Pulls) > 0 && req.LockfileLabel == "" {
		return fmt.Errorf(`MODULE.bazel has images.pull tags but no lockfile: add images.lockfile(file = "//:images.lock.json"), then run: bazel run @%s//:update`, req.Hub)
	}
	return nil
}

func hubRepo(req Request) (Repo, error) {
	pulls, err := json.MarshalIndent(struct {
		Pulls []lock.Pull `json:"pulls"`
	}{req.Pulls}, "", "  ")
	if err != nil {
		return Repo{}, err
	}
	f := newBuildFile()
	if err := f.add("images_hub", map[string]build.Expr{"LOCKFILE": str(req.LockfilePath)}); err != nil {
		return Repo{}, err
	}
	return Repo{Name: req.Hub, Files: map[string]string{
		"BUILD.bazel": f.format(),
		"pulls.json":  string(pulls) + "\n",
	}}, nil
}

// pullRepos plans the repositories of one pull: one per platform, which
// fetches its manifest and config, and the one named after the pull: the
// index of those platforms (fetched, so that it keeps the source's bytes
// when nothing was left out), or for a single manifest an alias of it.
// Layer blobs of lazy pulls are collected into blobs.
func pullRepos(req Request, p lock.Pull, locked lock.File, blobs map[string]*remoteBlob) ([]Repo, error) {
	update := fmt.Sprintf("bazel run @%s//:update", req.Hub)
	img, ok := locked.Images[p.Name]
	if !ok {
		return errorRepo(p.Name, fmt.Sprintf("%s has no entry for the pull %q (%s): run %s", req.LockfileLabel, p.Name, p.Reference(), update))
	}
	if why := img.Stale(p); why != "" {
		return errorRepo(p.Name, fmt.Sprintf("the entry for the pull %q in %s is stale (%s): run %s", p.Name, req.LockfileLabel, why, update))
	}
	platforms := img.InIndexOrder()
	if len(platforms) == 0 {
		return errorRepo(p.Name, fmt.Sprintf("the entry for the pull %q in %s has no platform: run %s", p.Name, req.LockfileLabel, update))
	}
	label := func(platform string) string { return "@" + p.Name + "_" + PlatformDir(platform) + "//:image" }
	var repos []Repo
	for _, platform := range platforms {
		if PlatformDir(platform) == p.Name {
			return errorRepo(p.Name, fmt.Sprintf("the pull %q has a platform target of the same name: rename the pull", p.Name))
		}
		entry := img.Platforms[platform]
		sizeConflict := ""
		layerBlobs, err := layerBlobs(p, entry, func(layer lock.Descriptor) string {
			b, ok := blobs[layer.Digest]
			if !ok {
				b = &remoteBlob{Size: layer.Size}
				blobs[layer.Digest] = b
			} else if b.Size != layer.Size {
				sizeConflict = fmt.Sprintf("the entry for the pull %q in %s declares %d bytes for layer %s, another pull's %d; a blob has one size: run %s", p.Name, req.LockfileLabel, layer.Size, layer.Digest, b.Size, update)
			}
			b.Sources = appendUnique(b.Sources, blobSources(p, layer)...)
			return "@" + blobRepoName(layer.Digest) + "//:blob"
		})
		if err != nil {
			return nil, err
		}
		if sizeConflict != "" {
			return errorRepo(p.Name, sizeConflict)
		}
		f := newBuildFile()
		if err := addPulledImage(f, "image", "", p, entry, layerBlobs); err != nil {
			return nil, err
		}
		pl := entry.Platform
		repos = append(repos, Repo{
			Name:  p.Name + "_" + PlatformDir(platform),
			Files: map[string]string{"BUILD.bazel": f.format()},
			Fetch: &Fetch{
				Kind: FetchManifest, Registries: p.Registries, Repository: p.Repository, Downloader: p.Downloader,
				Digest: entry.Manifest.Digest, MediaType: entry.Manifest.MediaType, Platform: &pl,
				Layers: p.LayerHandling == lock.Eager,
			},
		})
	}
	hub := newBuildFile()
	top := Repo{Name: p.Name}
	if img.IsIndex() {
		var manifests []string
		for _, platform := range indexManifests(img) {
			manifests = append(manifests, label(platform))
		}
		if err := addPulledIndex(hub, p.Name, p, img, manifests); err != nil {
			return nil, err
		}
		top.Fetch = &Fetch{
			Kind: FetchIndex, Registries: p.Registries, Repository: p.Repository, Downloader: p.Downloader,
			Digest: img.Digest, Manifests: PulledDigests(img),
		}
	} else if err := addAlias(hub, p.Name, label(platforms[0])); err != nil {
		return nil, err
	}
	for _, platform := range platforms {
		if err := addAlias(hub, PlatformDir(platform), label(platform)); err != nil {
			return nil, err
		}
	}
	top.Files = map[string]string{"BUILD.bazel": hub.format()}
	return append([]Repo{top}, repos...), nil
}

// errorRepo gives the pull a repository whose target fails with message, so
// that the rest of the build, and the update command, still work.
func errorRepo(name, message string) ([]Repo, error) {
	f := newBuildFile()
	if err := f.add("pull_error", map[string]build.Expr{"NAME": str(name), "MESSAGE": str(message)}); err != nil {
		return nil, err
	}
	return []Repo{{Name: name, Files: map[string]string{"BUILD.bazel": f.format()}}}, nil
}

// remoteBlob is a layer blob of lazy pulls: the registries that serve it,
// and the size its descriptors declare, which bounds its download.
type remoteBlob struct {
	Sources []string
	Size    int64
}

func remoteBlobRepos(blobs map[string]*remoteBlob) ([]Repo, error) {
	digests := make([]string, 0, len(blobs))
	for d := range blobs {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	var repos []Repo
	for _, d := range digests {
		f := newBuildFile()
		if err := addRemoteBlob(f, "blob", d, *blobs[d]); err != nil {
			return nil, err
		}
		repos = append(repos, Repo{Name: blobRepoName(d), Files: map[string]string{"BUILD.bazel": f.format()}})
	}
	return repos, nil
}

func addRemoteBlob(f *buildFile, name, digest string, blob remoteBlob) error {
	return f.add("remote_blob", map[string]build.Expr{
		"NAME":    str(name),
		"DIGEST":  str(digest),
		"SIZE":    &build.LiteralExpr{Token: strconv.FormatInt(blob.Size, 10)},
		"SOURCES": strList(blob.Sources),
	})
}

func blobRepoName(digest string) string {
	return blobPrefix + strings.TrimPrefix(digest, "sha256:")
}

func registrySources(p lock.Pull) []string {
	var out []string
	for _, r := range p.Registries {
		out = append(out, r+"/"+p.Repository)
	}
	return out
}

func appendUnique(list []string, items ...string) []string {
	for _, item := range items {
		found := false
		for _, have := range list {
			found = found || have == item
		}
		if !found {
			list = append(list, item)
		}
	}
	return list
}
