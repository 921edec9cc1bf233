package lock

import (
	"bytes"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the lockfile parser: it never panics,
// and what it accepts encodes to a form that parses back to the same
// encoding. Run it longer with bench/fuzz.sh.
func FuzzParse(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte(`{"version": 1, "images": {}}`))
	f.Add([]byte(`{"version": 1, "images": {"base": {"registries": ["index.docker.io"], "repository": "library/alpine", "tag": "3", "digest": "sha256:` +
		`0000000000000000000000000000000000000000000000000000000000000000", "platforms": {"linux/amd64": {"manifest": {"digest": "sha256:1", "size": 3}}}}}}`))
	f.Add([]byte(`{"version": 2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, "fuzz.lock.json")
		if err != nil {
			return
		}
		encoded, err := file.Encode()
		if err != nil {
			return // e.g. a NaN cannot come from JSON, but stay lenient
		}
		again, err := Parse(encoded, "encoded")
		if err != nil {
			t.Fatalf("the encoding of an accepted lockfile does not parse: %v\n%s", err, encoded)
		}
		reencoded, err := again.Encode()
		if err != nil || !bytes.Equal(encoded, reencoded) {
			t.Fatalf("encoding is not stable (%v):\n%s\n%s", err, encoded, reencoded)
		}
	})
}

// FuzzRegistryDocuments feeds arbitrary bytes, as a registry could send
// them, to the manifest and index parsers of a pull: they never panic, and
// what they take is consistent.
func FuzzRegistryDocuments(f *testing.F) {
	f.Add([]byte(`{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [` +
		`{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:` + "aa" + `", "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},` +
		`{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:bb", "size": 1, "platform": {"os": "unknown", "architecture": "unknown"}}]}`))
	f.Add([]byte(`{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"digest": "sha256:cc", "size": 2},` +
		` "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:dd", "size": 3}]}`))
	f.Add([]byte(`{"manifests": []}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		mediaType, err := SniffMediaType(data)
		if err != nil {
			return
		}
		if entry, err := ParsePlatform(data, mediaType, "sha256:x"); err == nil {
			if entry.Manifest.Size != int64(len(data)) || entry.Config.Digest == "" {
				t.Fatalf("ParsePlatform took %+v", entry)
			}
		}
		for _, platforms := range [][]string{nil, {"linux/amd64"}} {
			selected, err := SelectManifests(Pull{Name: "fuzz", Platforms: platforms}, data)
			if err != nil {
				continue
			}
			for _, s := range selected {
				if s.Descriptor.Platform == nil || s.Descriptor.Platform.OS == "unknown" {
					t.Fatalf("selected %+v", s)
				}
			}
		}
	})
}
