package layer

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0755", 0o755},
		{"755", 0o755},
		{"0644", 0o644},
		{"0", 0},
		{"0000", 0},
		{"4755", 0o4755},
		{"7777", 0o7777},
		{"07777", 0o7777},
	} {
		got, err := ParseMode(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseMode(%q) = %o, %v; want %o", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0999", "abc", "77777", "10000", "-1", "0x1ff", "0o755", "7 55", "0755\n"} {
		got, err := ParseMode(bad)
		if err == nil {
			t.Errorf("ParseMode(%q) = %o, want an error", bad, got)
			continue
		}
		if !strings.Contains(err.Error(), `"`+strings.ReplaceAll(bad, "\n", `\n`)+`"`) {
			t.Errorf("ParseMode(%q) error %q does not quote the input", bad, err)
		}
	}
}

func TestParseMtime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"0", epoch},
		{"86400", time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"1704164645", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2024-01-02T03:04:05Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"2024-01-02T05:04:05+02:00", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		// Sub-second precision would need PAX records; it is dropped.
		{"2024-01-02T03:04:05.999Z", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
	} {
		got, err := ParseMtime(tc.in)
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("ParseMtime(%q) = %v, %v; want %v in UTC", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2024-01-02", "1.5", "2024-01-02 03:04:05"} {
		if got, err := ParseMtime(bad); err == nil {
			t.Errorf("ParseMtime(%q) = %v, want an error", bad, got)
		} else if !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("ParseMtime(%q) error %q does not quote the input", bad, err)
		}
	}
}

func TestFileMetadataApply(t *testing.T) {
	base := attrs{mode: 0o644, uid: 1, gid: 2, uname: "u", gname: "g", mtime: epoch}
	for _, tc := range []struct {
		name string
		m    FileMetadata
		want attrs
	}{
		{"empty keeps everything", FileMetadata{}, base},
		{"mode", FileMetadata{Mode: ptr("0600")}, attrs{mode: 0o600, uid: 1, gid: 2, uname: "u", gname: "g", mtime: epoch}},
		{"ids", FileMetadata{UID: ptr(0), GID: ptr(65534)}, attrs{mode: 0o644, uid: 0, gid: 65534, uname: "u", gname: "g", mtime: epoch}},
		{"names may be set empty", FileMetadata{Uname: ptr(""), Gname: ptr("staff")}, attrs{mode: 0o644, uid: 1, gid: 2, uname: "", gname: "staff", mtime: epoch}},
		{"mtime", FileMetadata{Mtime: ptr("60")}, attrs{mode: 0o644, uid: 1, gid: 2, uname: "u", gname: "g", mtime: time.Unix(60, 0).UTC()}},
		{"pax records", FileMetadata{PAXRecords: map[string]string{"SCHILY.xattr.user.a": "b"}},
			attrs{mode: 0o644, uid: 1, gid: 2, uname: "u", gname: "g", mtime: epoch, pax: encodePAX(map[string]string{"SCHILY.xattr.user.a": "b"})}},
	} {
		got, err := tc.m.apply(base)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: apply = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		m    FileMetadata
		want string
	}{
		{FileMetadata{Mode: ptr("0999")}, `mode "0999"`},
		{FileMetadata{UID: ptr(-1)}, "uid -1 is negative"},
		{FileMetadata{GID: ptr(-5)}, "gid -5 is negative"},
		{FileMetadata{Mtime: ptr("soon")}, `mtime "soon"`},
	} {
		_, err := tc.m.apply(base)
		wantErr(t, err, tc.want)
	}
}

func TestReadMetadataSpec(t *testing.T) {
	spec, err := ReadMetadataSpec("")
	if err != nil || !reflect.DeepEqual(spec, MetadataSpec{}) {
		t.Errorf("ReadMetadataSpec(\"\") = %+v, %v; want the zero spec", spec, err)
	}

	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(`{
		"default": {"uid": 1000, "mtime": "0"},
		"paths": {"/app/x": {"mode": "0700", "uname": "app", "pax_records": {"SCHILY.xattr.user.a": "b"}}}
	}`), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err = ReadMetadataSpec(good)
	if err != nil {
		t.Fatal(err)
	}
	want := MetadataSpec{
		Default: FileMetadata{UID: ptr(1000), Mtime: ptr("0")},
		Paths:   map[string]FileMetadata{"/app/x": {Mode: ptr("0700"), Uname: ptr("app"), PAXRecords: map[string]string{"SCHILY.xattr.user.a": "b"}}},
	}
	if !reflect.DeepEqual(spec, want) {
		t.Errorf("ReadMetadataSpec = %+v, want %+v", spec, want)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"default": {"uid": "root"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadMetadataSpec(bad)
	wantErr(t, err, bad)

	_, err = ReadMetadataSpec(filepath.Join(dir, "missing.json"))
	wantErr(t, err, "missing.json")
}
