// Package generator decides the repositories of the images module extension
// and writes their BUILD files from templates, as syntax trees.
package generator

import (
	"encoding/json"
	"fmt"
	"sort"
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
	// Fetch makes the repository download a platform's manifest and config
	// (verified against their digests) before its files are written.
	Fetch *Fetch `json:"fetch,omitempty"`
}

// Fetch names one platform manifest to download.
type Fetch struct {
	Registries []string `json:"registries"`
	Repository string   `json:"repository"`
	Digest     string   `json:"digest"`
	Platform   string   `json:"platform"`
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
	blobs := map[string][]string{} // digest → sources
	owners := map[string]string{}  // repository name → pull that needs it
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
		for _, pl := range p.Platforms {
			if _, err := Constraints(pl); err != nil {
				return fmt.Errorf("pull %q: %w", p.Name, err)
			}
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

// pullRepos plans the repositories of one pull: the one named after it,
// which selects the platform, and one per platform that fetches its
// manifest and config. Layer blobs are collected into blobs.
func pullRepos(req Request, p lock.Pull, locked lock.File, blobs map[string][]string) ([]Repo, error) {
	update := fmt.Sprintf("bazel run @%s//:update", req.Hub)
	img, ok := locked.Images[p.Name]
	if !ok {
		return errorRepo(p.Name, fmt.Sprintf("%s has no entry for the pull %q (%s): run %s", req.LockfileLabel, p.Name, p.Reference(), update))
	}
	if why := img.Stale(p); why != "" {
		return errorRepo(p.Name, fmt.Sprintf("the entry for the pull %q in %s is stale (%s): run %s", p.Name, req.LockfileLabel, why, update))
	}
	platforms := selectable(img)
	if len(platforms) == 0 {
		return errorRepo(p.Name, fmt.Sprintf("the pull %q resolved only to platforms that have no Bazel constraints here (%s): name the platforms to use in the pull's platforms", p.Name, strings.Join(img.PlatformNames(), ", ")))
	}
	hub := newBuildFile()
	var repos []Repo
	actuals := map[string]string{}
	var settings []string
	for _, platform := range platforms {
		entry := img.Platforms[platform]
		repoName := p.Name + "_" + targetName(platform)
		if err := addPlatform(hub, platform, "@"+repoName+"//:image", actuals, &settings); err != nil {
			return nil, err
		}
		files, err := pulledImageBUILD("image", "", platform, entry, func(digest string) string {
			blobs[digest] = appendUnique(blobs[digest], registrySources(p)...)
			return "@" + blobRepoName(digest) + "//:blob"
		})
		if err != nil {
			return nil, err
		}
		repos = append(repos, Repo{
			Name:  repoName,
			Files: map[string]string{"BUILD.bazel": files},
			Fetch: &Fetch{Registries: p.Registries, Repository: p.Repository, Digest: entry.Manifest.Digest, Platform: platform},
		})
	}
	noMatch := fmt.Sprintf("@%s has no image for the target platform: it has %s. Build for one of them (--platforms), or add the platform to the pull's platforms and run %s",
		p.Name, strings.Join(platforms, ", "), update)
	if err := addImageAlias(hub, p.Name, settings, actuals, noMatch); err != nil {
		return nil, err
	}
	hubRepo := Repo{Name: p.Name, Files: map[string]string{"BUILD.bazel": hub.format()}}
	return append([]Repo{hubRepo}, repos...), nil
}

// selectable lists the image's platforms that map to Bazel constraints,
// sorted. A pull without platforms takes every platform of an index, which
// may include some (linux/arm/v5, linux/mips64le) that a build cannot
// select; those are left out rather than failing every repository.
func selectable(img lock.Image) []string {
	var out []string
	for _, platform := range img.PlatformNames() {
		if _, err := Constraints(platform); err == nil {
			out = append(out, platform)
		}
	}
	return out
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

// addPlatform adds the config_setting and alias of one platform.
func addPlatform(f *buildFile, platform, image string, actuals map[string]string, settings *[]string) error {
	constraints, err := Constraints(platform)
	if err != nil {
		return err
	}
	setting := "is_" + targetName(platform)
	*settings = append(*settings, ":"+setting)
	actuals[":"+setting] = image
	return f.add("platform", map[string]build.Expr{
		"SETTING":       str(setting),
		"CONSTRAINTS":   strList(constraints),
		"PLATFORM_NAME": str(targetName(platform)),
		"IMAGE":         str(image),
	})
}

func addImageAlias(f *buildFile, name string, settings []string, actuals map[string]string, noMatch string) error {
	return f.add("image", map[string]build.Expr{
		"NAME":           str(name),
		"ACTUALS":        strDict(settings, actuals),
		"NO_MATCH_ERROR": str(noMatch),
	})
}

// pulledImageBUILD renders the pulled_image target of one platform; its
// files are under dir; blobLabel names the target of each layer blob.
func pulledImageBUILD(name, dir, platform string, entry lock.Platform, blobLabel func(digest string) string) (string, error) {
	f := newBuildFile()
	if err := addPulledImage(f, name, dir, platform, entry, blobLabel); err != nil {
		return "", err
	}
	return f.format(), nil
}

func addPulledImage(f *buildFile, name, dir, platform string, entry lock.Platform, blobLabel func(digest string) string) error {
	parts := strings.SplitN(platform, "/", 3)
	if len(parts) < 2 {
		return fmt.Errorf("platform %q is not os/arch[/variant]", platform)
	}
	variant := ""
	if len(parts) == 3 {
		variant = parts[2]
	}
	var layers, blobLabels, mediaTypes []string
	for i, l := range entry.Layers {
		layers = append(layers, dir+LayerFile(i))
		blobLabels = append(blobLabels, blobLabel(l.Digest))
		mediaTypes = append(mediaTypes, l.MediaType)
	}
	return f.add("pulled_image", map[string]build.Expr{
		"NAME":         str(name),
		"BLOBS":        strList(blobLabels),
		"CONFIG":       str(dir + ConfigFile),
		"DESCRIPTOR":   str(dir + DescriptorFile),
		"MEDIA_TYPES":  strList(mediaTypes),
		"LAYERS":       strList(layers),
		"MANIFEST":     str(dir + ManifestFile),
		"OS":           str(parts[0]),
		"ARCHITECTURE": str(parts[1]),
		"VARIANT":      str(variant),
	})
}

// Files that a fetch writes for one platform.
const (
	ManifestFile   = "manifest.json"
	ConfigFile     = "config.json"
	DescriptorFile = "descriptor.json"
)

// LayerFile is the metadata file of layer i.
func LayerFile(i int) string { return fmt.Sprintf("layer_%d.json", i) }

func remoteBlobRepos(blobs map[string][]string) ([]Repo, error) {
	digests := make([]string, 0, len(blobs))
	for d := range blobs {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	var repos []Repo
	for _, d := range digests {
		f := newBuildFile()
		if err := addRemoteBlob(f, "blob", d, blobs[d]); err != nil {
			return nil, err
		}
		repos = append(repos, Repo{Name: blobRepoName(d), Files: map[string]string{"BUILD.bazel": f.format()}})
	}
	return repos, nil
}

func addRemoteBlob(f *buildFile, name, digest string, sources []string) error {
	return f.add("remote_blob", map[string]build.Expr{
		"NAME":    str(name),
		"DIGEST":  str(digest),
		"SOURCES": strList(sources),
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
