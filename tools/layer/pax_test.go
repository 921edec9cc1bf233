package layer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPAXRecords checks that the records of the default and of a path end
// up in the headers, the path's replacing the default's key by key, and
// that entries without records stay in the plain format.
func TestPAXRecords(t *testing.T) {
	src := t.TempDir()
	data := writeSource(t, src, "data", "data\n", 0o644)
	inputs := []Input{
		{Kind: KindFile, Path: "/app/data", Source: data},
		{Kind: KindFile, Path: "/app/other", Source: data},
		{Kind: KindSymlink, Path: "/app/link", Target: "data"},
	}
	meta := MetadataSpec{
		Default: FileMetadata{PAXRecords: map[string]string{"SCHILY.xattr.user.owner": "team", "SCHILY.xattr.user.tier": "base"}},
		Paths: map[string]FileMetadata{
			"/app/data": {PAXRecords: map[string]string{
				"SCHILY.xattr.user.tier":           "data",
				"LIBARCHIVE.xattr.user.b64":        "YmFy",
				"SCHILY.xattr.security.capability": "\x01\x00\x00\x02 bytes=and\nnewlines",
			}},
		},
	}
	def := meta.Default.PAXRecords
	want := map[string]map[string]string{
		"app/":      def,
		"app/data":  {"SCHILY.xattr.user.owner": "team", "SCHILY.xattr.user.tier": "data", "LIBARCHIVE.xattr.user.b64": "YmFy", "SCHILY.xattr.security.capability": "\x01\x00\x00\x02 bytes=and\nnewlines"},
		"app/link":  def,
		"app/other": def,
	}
	got := planAndRead(t, inputs, meta)
	if len(got) != len(want) {
		t.Fatalf("entries %q, want %d", names(got), len(want))
	}
	for _, e := range got {
		if w := want[e.hdr.Name]; !maps.Equal(e.hdr.PAXRecords, w) {
			t.Errorf("%s: PAX records %q, want %q", e.hdr.Name, e.hdr.PAXRecords, w)
		}
		if e.hdr.Format&tar.FormatPAX == 0 {
			t.Errorf("%s: format %v, want PAX", e.hdr.Name, e.hdr.Format)
		}
	}
	// The default's records were not changed by the merge.
	if len(def) != 2 || def["SCHILY.xattr.user.tier"] != "base" {
		t.Errorf("the default's records changed: %q", def)
	}

	for _, e := range planAndRead(t, inputs, MetadataSpec{}) {
		if len(e.hdr.PAXRecords) != 0 || e.hdr.Format&tar.FormatPAX != 0 {
			t.Errorf("%s without pax_records: records %q, format %v", e.hdr.Name, e.hdr.PAXRecords, e.hdr.Format)
		}
	}
}

// TestPAXRecordsDeterministic writes many records in several plans: the tar
// is the same each time (map order never shows), with the records sorted.
func TestPAXRecordsDeterministic(t *testing.T) {
	records := map[string]string{}
	for i := range 40 {
		records[fmt.Sprintf("SCHILY.xattr.user.k%02d", 39-i)] = fmt.Sprint(i)
	}
	inputs := []Input{{Kind: KindFile, Path: "/a"}, {Kind: KindFile, Path: "/b"}}
	meta := func() MetadataSpec {
		return MetadataSpec{Paths: map[string]FileMetadata{"/a": {PAXRecords: maps.Clone(records)}, "/b": {PAXRecords: maps.Clone(records)}}}
	}
	first := planTar(t, inputs, meta())
	for range 5 {
		if again := planTar(t, inputs, meta()); !bytes.Equal(again, first) {
			t.Fatalf("two tars of the same plan differ")
		}
	}
	// The extended header's body: "<len> <key>=<value>\n" records.
	i := bytes.Index(first, []byte(" SCHILY.xattr.user.k00="))
	j := bytes.Index(first, []byte(" SCHILY.xattr.user.k39="))
	if i < 0 || j < i {
		t.Errorf("the PAX records are not in sorted order in the tar (k00 at %d, k39 at %d)", i, j)
	}
}

// TestPAXRecordsRefused checks the keys that archive/tar handles itself or
// that would change what the entry is: each error names the path and key.
func TestPAXRecordsRefused(t *testing.T) {
	inputs := []Input{{Kind: KindFile, Path: "/app/x"}}
	for _, key := range []string{"path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime", "GNU.sparse.map", "GNU.sparse.size", "", "a=b", "nul\x00key"} {
		rec := map[string]string{"SCHILY.xattr.user.ok": "1", key: "0"}
		_, err := NewLayout(inputs, MetadataSpec{Paths: map[string]FileMetadata{"/app/x": {PAXRecords: rec}}})
		wantErr(t, err, "file_metadata for /app/x", fmt.Sprintf("pax_records key %q", key))
		_, err = NewLayout(inputs, MetadataSpec{Default: FileMetadata{PAXRecords: rec}})
		wantErr(t, err, "default_metadata", fmt.Sprintf("pax_records key %q", key))
	}
	// Of two bad paths, the same one is reported every time.
	meta := MetadataSpec{Paths: map[string]FileMetadata{}}
	for _, p := range []string{"/c", "/a", "/b"} {
		meta.Paths[p] = FileMetadata{PAXRecords: map[string]string{"size": "1"}}
	}
	for range 10 {
		_, err := NewLayout(nil, meta)
		wantErr(t, err, "file_metadata for /a:")
	}
}

// TestDedupPAXRecords checks that files of equal content become hardlinks
// only when their PAX records are equal too.
func TestDedupPAXRecords(t *testing.T) {
	src := t.TempDir()
	small := writeSource(t, src, "small", "same\n", 0o644)
	big := writeSource(t, src, "big", strings.Repeat("0123456789abcdef", (smallFileSize+4096)/16), 0o644)
	bigCopy := filepath.Join(src, "big-copy")
	content, _ := os.ReadFile(big)
	if err := os.WriteFile(bigCopy, content, 0o644); err != nil {
		t.Fatal(err)
	}
	x := func(v string) FileMetadata {
		return FileMetadata{PAXRecords: map[string]string{"SCHILY.xattr.user.x": v}}
	}
	inputs := []Input{
		{Kind: KindFile, Path: "/s1", Source: small},
		{Kind: KindFile, Path: "/s2", Source: small},
		{Kind: KindFile, Path: "/s3", Source: small},
		{Kind: KindFile, Path: "/s4", Source: small},
		{Kind: KindFile, Path: "/b1", Source: big},
		{Kind: KindFile, Path: "/b2", Source: bigCopy},
		{Kind: KindFile, Path: "/b3", Source: big},
	}
	meta := MetadataSpec{Paths: map[string]FileMetadata{
		"/s1": x("1"), "/s2": x("2"), "/s3": x("1"), // s4 has none
		"/b1": x("1"), "/b2": x("2"), "/b3": x("2"),
	}}
	got := byName(t, planAndRead(t, inputs, meta))
	for name, target := range map[string]string{"s1": "", "s2": "", "s3": "s1", "s4": "", "b1": "", "b2": "", "b3": "b2"} {
		e := got[name]
		switch {
		case target == "" && e.hdr.Typeflag != tar.TypeReg:
			t.Errorf("%s: type %c to %q; want a file with its own content", name, e.hdr.Typeflag, e.hdr.Linkname)
		case target != "" && (e.hdr.Typeflag != tar.TypeLink || e.hdr.Linkname != target):
			t.Errorf("%s: type %c to %q; want a hardlink to %s", name, e.hdr.Typeflag, e.hdr.Linkname, target)
		}
		if want := meta.Paths["/"+name].PAXRecords; !maps.Equal(e.hdr.PAXRecords, want) {
			t.Errorf("%s: PAX records %q, want %q", name, e.hdr.PAXRecords, want)
		}
	}
}

func TestEncodePAX(t *testing.T) {
	for _, records := range []map[string]string{
		nil,
		{"a": ""},
		{"SCHILY.xattr.user.x": "1:2:3", "b": "with\x00nul", "c:colon": "12:ab"},
	} {
		enc := encodePAX(records)
		if got := decodePAX(enc); !maps.Equal(got, records) {
			t.Errorf("decodePAX(encodePAX(%q)) = %q", records, got)
		}
	}
	if encodePAX(map[string]string{"a": "1", "b": "2"}) == encodePAX(map[string]string{"a": "12"}) {
		t.Errorf("different records encode alike")
	}
	merged := decodePAX(mergePAX(encodePAX(map[string]string{"a": "1", "b": "2"}), map[string]string{"b": "3", "c": "4"}))
	if want := map[string]string{"a": "1", "b": "3", "c": "4"}; !maps.Equal(merged, want) {
		t.Errorf("mergePAX = %q, want %q", merged, want)
	}
}
