package layer

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// identityKeys are the PAX keys that archive/tar writes from the header's
// own fields (and silently drops from PAXRecords), or that say what the
// entry is rather than an attribute of it.
var identityKeys = map[string]bool{
	"path": true, "linkpath": true, "size": true,
	"uid": true, "gid": true, "uname": true, "gname": true,
	"mtime": true, "atime": true, "ctime": true,
}

// checkPAXRecords refuses PAX record keys that archive/tar handles itself or
// that would change the entry's identity (path, size, owner, times, sparse
// maps), and keys that no PAX header can hold. The error names the key.
func checkPAXRecords(records map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(records)) {
		switch {
		case identityKeys[k]:
			return fmt.Errorf("pax_records key %q is a field of the tar header: set it with its own file_metadata field (mode, uid, gid, uname, gname, mtime), or not at all", k)
		case strings.HasPrefix(k, "GNU.sparse"):
			return fmt.Errorf("pax_records key %q describes a sparse file, which the layer writer does not write: remove it", k)
		case k == "" || strings.ContainsAny(k, "=\x00"):
			return fmt.Errorf("pax_records key %q cannot be a PAX key: give a non-empty key without '=' or NUL, such as \"SCHILY.xattr.user.foo\"", k)
		}
	}
	return nil
}

// encodePAX writes records in one canonical form, keys sorted, each key and
// value as "<length>:<bytes>", so that equal records give equal strings.
func encodePAX(records map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(records)) {
		v := records[k]
		b.WriteString(strconv.Itoa(len(k)))
		b.WriteByte(':')
		b.WriteString(k)
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
	}
	return b.String()
}

// decodePAX reads what encodePAX wrote; nil for no records.
func decodePAX(s string) map[string]string {
	if s == "" {
		return nil
	}
	records := map[string]string{}
	for s != "" {
		var k, v string
		k, s = cutField(s)
		v, s = cutField(s)
		records[k] = v
	}
	return records
}

func cutField(s string) (field, rest string) {
	n, s, _ := strings.Cut(s, ":")
	size, _ := strconv.Atoi(n) // encodePAX wrote it
	return s[:size], s[size:]
}

// mergePAX overlays records onto the encoded records base, key by key.
func mergePAX(base string, records map[string]string) string {
	if base == "" {
		return encodePAX(records)
	}
	merged := decodePAX(base)
	maps.Copy(merged, records)
	return encodePAX(merged)
}
