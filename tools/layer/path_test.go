package layer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"/app/bin/server", "app/bin/server"},
		{"app/bin/server", "app/bin/server"},
		{"//app//bin///server", "app/bin/server"},
		{"/app/./bin/./server", "app/bin/server"},
		{"/app/bin/", "app/bin"},
		{"./x", "x"},
		{"/...", "..."},
		{"/a/..b/c..", "a/..b/c.."},
		{"/with space/ünïcode", "with space/ünïcode"},
	} {
		got, err := CleanPath(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCleanPathErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"/app/../etc/passwd", "contains '..'"},
		{"..", "contains '..'"},
		{"/app/..", "contains '..'"},
		{"../x", "contains '..'"},
		{"/", "names the image root"},
		{"", "names the image root"},
		{"/./.", "names the image root"},
		{"a\tb", "NUL, tab or newline"},
		{"a\nb", "NUL, tab or newline"},
		{"a\x00b", "NUL, tab or newline"},
	} {
		got, err := CleanPath(tc.in)
		if err == nil {
			t.Errorf("CleanPath(%q) = %q, want an error", tc.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.in)) {
			t.Errorf("CleanPath(%q) error %q, want it to name the path and say %q", tc.in, err, tc.want)
		}
	}
}

func TestParentDirs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a", nil},
		{"a/b", []string{"a"}},
		{"a/b/c/d", []string{"a", "a/b", "a/b/c"}},
	} {
		if got := parentDirs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("parentDirs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
