package layer

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"
)

// FileMetadata is what file_metadata() in Starlark records for a path. Every
// field is optional; a missing field keeps the layer default.
type FileMetadata struct {
	Mode  *string `json:"mode,omitempty"`
	UID   *int    `json:"uid,omitempty"`
	GID   *int    `json:"gid,omitempty"`
	Uname *string `json:"uname,omitempty"`
	Gname *string `json:"gname,omitempty"`
	// Mtime is RFC 3339 ("2024-01-02T03:04:05Z") or Unix seconds ("0").
	Mtime *string `json:"mtime,omitempty"`
	// PAXRecords go into the entry's tar header as PAX records, such as
	// extended attributes ("SCHILY.xattr.user.foo"). A path's records
	// replace the default's key by key. Keys that archive/tar writes from
	// the header's fields (path, size, uid, mtime, ...) are refused.
	PAXRecords map[string]string `json:"pax_records,omitempty"`
}

// MetadataSpec is the layer's metadata file: defaults plus per-path values.
type MetadataSpec struct {
	Default FileMetadata            `json:"default"`
	Paths   map[string]FileMetadata `json:"paths"`
}

// attrs are the resolved attributes of one tar entry. Two files are only
// ever hardlinked when their attrs are equal.
type attrs struct {
	mode         int64 // permission bits only
	uid, gid     int
	uname, gname string
	mtime        time.Time
	pax          string // PAX records as encodePAX writes them: a map is no map key
}

// ReadMetadataSpec reads a metadata file; an empty path gives the defaults.
func ReadMetadataSpec(path string) (MetadataSpec, error) {
	var spec MetadataSpec
	if path == "" {
		return spec, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return spec, err
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		return spec, fmt.Errorf("metadata file %s: %w", path, err)
	}
	return spec, nil
}

// ParseMode parses an octal permission string such as "0755".
func ParseMode(s string) (int64, error) {
	m, err := strconv.ParseInt(s, 8, 64)
	if err != nil || m < 0 || m > 0o7777 || s == "" {
		return 0, fmt.Errorf("mode %q is not an octal permission between 0000 and 7777 (for example \"0755\")", s)
	}
	return m, nil
}

// ParseMtime parses RFC 3339 or a number of Unix seconds.
func ParseMtime(s string) (time.Time, error) {
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(secs, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("mtime %q is neither RFC 3339 (2024-01-02T03:04:05Z) nor Unix seconds", s)
	}
	return t.UTC().Truncate(time.Second), nil
}

// apply overlays the fields that m sets onto a.
func (m FileMetadata) apply(a attrs) (attrs, error) {
	if m.Mode != nil {
		mode, err := ParseMode(*m.Mode)
		if err != nil {
			return a, err
		}
		a.mode = mode
	}
	if m.UID != nil {
		if *m.UID < 0 {
			return a, fmt.Errorf("uid %d is negative", *m.UID)
		}
		a.uid = *m.UID
	}
	if m.GID != nil {
		if *m.GID < 0 {
			return a, fmt.Errorf("gid %d is negative", *m.GID)
		}
		a.gid = *m.GID
	}
	if m.Uname != nil {
		a.uname = *m.Uname
	}
	if m.Gname != nil {
		a.gname = *m.Gname
	}
	if m.Mtime != nil {
		t, err := ParseMtime(*m.Mtime)
		if err != nil {
			return a, err
		}
		a.mtime = t
	}
	if len(m.PAXRecords) > 0 {
		a.pax = mergePAX(a.pax, m.PAXRecords)
	}
	return a, nil
}
