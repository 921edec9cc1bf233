// Package sbom writes the SPDX 2.3 document of an image from what the
// build knows: the inventory of each layer (every regular file with its
// digests, and the Go modules of Go programs), the pulled base image, and
// the image's manifest. The document is deterministic: the same image
// gives the same bytes.
package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
	"github.com/spdx/tools-golang/utils"

	"github.com/rules-img/rules_img/tools/inventory"
)

// Request is what the image_sbom rule writes for the action.
type Request struct {
	// Name names the image: its Bazel label.
	Name     string `json:"name"`
	Manifest string `json:"manifest"`
	Config   string `json:"config"`
	// Inventories has one path per layer, in manifest order.
	Inventories []string `json:"inventories"`
	Base        *Base    `json:"base,omitempty"`
}

// Base is the pulled image the image was built on.
type Base struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest"`
}

// ReadRequest reads a request file.
func ReadRequest(path string) (Request, error) {
	var r Request
	data, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Build makes the document.
func Build(r Request) (*spdx.Document, error) {
	rawManifest, err := os.ReadFile(r.Manifest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", r.Manifest, err)
	}
	if len(m.Layers) != len(r.Inventories) {
		return nil, fmt.Errorf("%d inventories for the %d layers of %s", len(r.Inventories), len(m.Layers), r.Manifest)
	}
	rawConfig, err := os.ReadFile(r.Config)
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", r.Config, err)
	}
	sum := sha256.Sum256(rawManifest)
	digest := hex.EncodeToString(sum[:])

	image := &spdx.Package{
		PackageName:               r.Name,
		PackageSPDXIdentifier:     "Image",
		PackageDownloadLocation:   "NOASSERTION",
		FilesAnalyzed:             true,
		PackageChecksums:          []common.Checksum{{Algorithm: common.SHA256, Value: digest}},
		PrimaryPackagePurpose:     "CONTAINER",
		PackageExternalReferences: []*spdx.PackageExternalReference{purl(ociPurl(imageName(r.Name), digest, nil))},
		PackageComment:            fmt.Sprintf("The image manifest sha256:%s, %s/%s.", digest, cfg.OS, cfg.Architecture),
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      r.Name,
		DocumentNamespace: "https://rules-img.dev/spdx/" + url.PathEscape(r.Name) + "/sha256-" + digest,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "rules_img"}},
			// The image's own creation time: reproducible, as the image is.
			Created: cfg.Created.UTC().Format("2006-01-02T15:04:05Z"),
		},
		Relationships: []*spdx.Relationship{relationship("DOCUMENT", "DESCRIBES", "Image")},
	}
	modules := map[string]*spdx.Package{}
	var generatedFrom []*spdx.Relationship
	for i, path := range r.Inventories {
		files, err := inventory.Read(path)
		if err != nil {
			return nil, err
		}
		for j, f := range files {
			id := common.ElementID(fmt.Sprintf("File-%d-%d", i, j))
			doc.Relationships = append(doc.Relationships, relationship("Image", "CONTAINS", id))
			doc.Files = append(doc.Files, &spdx.File{
				FileName:           "./" + f.Path,
				FileSPDXIdentifier: id,
				Checksums: []common.Checksum{
					{Algorithm: common.SHA1, Value: f.SHA1},
					{Algorithm: common.SHA256, Value: f.SHA256},
				},
				FileComment: fmt.Sprintf("In layer %d, %s.", i, m.Layers[i].Digest),
			})
			if f.Go == nil {
				continue
			}
			for k, mod := range append([]inventory.Module{f.Go.Main}, f.Go.Deps...) {
				p := goModule(modules, mod, k == 0)
				generatedFrom = append(generatedFrom, relationship(id, "GENERATED_FROM", p.PackageSPDXIdentifier))
			}
		}
	}
	// The files are the document's, each contained by the image (SPDX
	// 2.3's relationships, rather than the package's hasFiles).
	code, err := utils.GetVerificationCode(doc.Files, "")
	if err != nil {
		return nil, err
	}
	image.PackageVerificationCode = &code
	doc.Packages = append(doc.Packages, image)
	if r.Base != nil {
		doc.Packages = append(doc.Packages, basePackage(*r.Base))
		doc.Relationships = append(doc.Relationships, relationship("Image", "DESCENDANT_OF", "Base"))
	}
	for _, key := range slices.Sorted(maps.Keys(modules)) {
		p := modules[key]
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, relationship("Image", "CONTAINS", p.PackageSPDXIdentifier))
	}
	doc.Relationships = append(doc.Relationships, generatedFrom...)
	return doc, nil
}

// Write writes the document as indented JSON, whole or not at all.
func Write(doc *spdx.Document, out string) error {
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  ")); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func relationship(a common.ElementID, kind string, b common.ElementID) *spdx.Relationship {
	return &spdx.Relationship{
		RefA:         common.DocElementID{ElementRefID: a},
		RefB:         common.DocElementID{ElementRefID: b},
		Relationship: kind,
	}
}

func purl(locator string) *spdx.PackageExternalReference {
	return &spdx.PackageExternalReference{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: locator}
}

// ociPurl is the package URL of an OCI image: pkg:oci/NAME@sha256%3AHEX.
func ociPurl(name, hexDigest string, qualifiers url.Values) string {
	s := "pkg:oci/" + url.PathEscape(name) + "@sha256%3A" + hexDigest
	if len(qualifiers) > 0 {
		s += "?" + qualifiers.Encode()
	}
	return s
}

// imageName is the last part of a label, as purl's lowercase name.
func imageName(label string) string {
	name := label[strings.LastIndexAny(label, ":/")+1:]
	return strings.ToLower(name)
}

func basePackage(b Base) *spdx.Package {
	hexDigest := strings.TrimPrefix(b.Digest, "sha256:")
	q := url.Values{"repository_url": {b.Registry + "/" + b.Repository}}
	if b.Tag != "" {
		q.Set("tag", b.Tag)
	}
	return &spdx.Package{
		PackageName:               b.Registry + "/" + b.Repository,
		PackageSPDXIdentifier:     "Base",
		PackageVersion:            b.Tag,
		PackageDownloadLocation:   "NOASSERTION",
		FilesAnalyzed:             false,
		PackageChecksums:          []common.Checksum{{Algorithm: common.SHA256, Value: hexDigest}},
		PrimaryPackagePurpose:     "CONTAINER",
		PackageExternalReferences: []*spdx.PackageExternalReference{purl(ociPurl(b.Repository[strings.LastIndex(b.Repository, "/")+1:], hexDigest, q))},
		PackageComment:            "The base image, pulled by digest " + b.Digest + ".",
	}
}

// goModule is the package of one Go module, made once per path@version.
func goModule(modules map[string]*spdx.Package, m inventory.Module, main bool) *spdx.Package {
	key := m.Path + "@" + m.Version
	if p, ok := modules[key]; ok {
		return p
	}
	version := m.Version
	purpose := "LIBRARY"
	if main {
		purpose = "APPLICATION"
	}
	p := &spdx.Package{
		PackageName:             m.Path,
		PackageSPDXIdentifier:   common.ElementID(fmt.Sprintf("Go-%s", spdxIDPart(key))),
		PackageVersion:          version,
		PackageDownloadLocation: "NOASSERTION",
		FilesAnalyzed:           false,
		PrimaryPackagePurpose:   purpose,
		PackageComment:          "A Go module, from the build info of a Go program of the image.",
	}
	if m.Path != "" && version != "" && version != "(devel)" {
		p.PackageExternalReferences = []*spdx.PackageExternalReference{purl("pkg:golang/" + m.Path + "@" + url.PathEscape(version))}
	}
	modules[key] = p
	return p
}

// spdxIDPart keeps the letters, digits, '.' and '-' that an SPDX identifier
// may hold, and turns the rest into '-'.
func spdxIDPart(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}
