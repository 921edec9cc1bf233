// Package templates holds the BUILD file templates that the generator fills
// in. Placeholders are upper-case identifiers; the generator replaces them
// with syntax trees, so no BUILD text is ever assembled from strings.
package templates

import "embed"

// FS holds every *.BUILD.tmpl file of this folder.
//
//go:embed *.BUILD.tmpl
var FS embed.FS
