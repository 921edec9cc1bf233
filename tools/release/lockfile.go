package release

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// DefaultURLTemplate is where a release's binaries are downloaded from.
const DefaultURLTemplate = "https://github.com/rules-img/rules_img/releases/download/v{version}/{file}"

// Binary is one entry of the prebuilt lockfile (toolchains/prebuilt.lock.json).
type Binary struct {
	OS     string `json:"os"`
	CPU    string `json:"cpu"`
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
}

// Lockfile is the prebuilt lockfile that the img_tool module extension and
// rules_img_register_toolchains read.
type Lockfile struct {
	Binaries []Binary `json:"binaries"`
}

// Marshal is the lockfile as written to disk: indented, ending in a newline.
func (l Lockfile) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ExpandURL fills a URL template's {version}, {os}, {arch} and {file} (the
// binary's asset name) for one platform.
func ExpandURL(template, version string, p Platform) (string, error) {
	url := strings.NewReplacer(
		"{version}", version,
		"{os}", p.OS,
		"{arch}", p.Arch,
		"{file}", p.BinaryName(),
	).Replace(template)
	if open := strings.IndexByte(url, '{'); open >= 0 {
		return "", fmt.Errorf("url template %q: unknown placeholder at %q; use {version}, {os}, {arch} or {file}", template, url[open:])
	}
	return url, nil
}
