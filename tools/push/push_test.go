package push

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func newRegistry(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(registry.New())
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func TestPushTagsAndStats(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := newRegistry(t)
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	p, err := New(context.Background(), func(s string) { lines = append(lines, s) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := p.Push(img, Target{Registry: host, Repository: "a/b", Tags: []string{"latest", "v1"}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if ref.DigestStr() != want.String() {
		t.Errorf("pushed %s, want digest %s", ref, want)
	}
	for _, tag := range []string{"latest", "v1"} {
		r, err := name.ParseReference(host + "/a/b:" + tag)
		if err != nil {
			t.Fatal(err)
		}
		d, err := remote.Head(r)
		if err != nil || d.Digest != want {
			t.Errorf("tag %s: %v, %v; want %s", tag, d, err, want)
		}
	}
	if p.Stats.Uploaded != 4 { // 3 layers and the config
		t.Errorf("uploaded %d blobs, want 4 (log: %v)", p.Stats.Uploaded, lines)
	}
	if p.Stats.BytesSent < 3*1024 {
		t.Errorf("sent %d bytes, want at least the layers", p.Stats.BytesSent)
	}

	// A second push finds every blob there.
	p2, _ := New(context.Background(), nil, nil)
	if _, err := p2.Push(img, Target{Registry: host, Repository: "a/b"}); err != nil {
		t.Fatal(err)
	}
	if p2.Stats.Uploaded != 0 || p2.Stats.BytesSent != 0 {
		t.Errorf("second push: %s, want nothing uploaded", p2.Stats.String())
	}
	if n := len(p.Mounts.done); n != 3 {
		t.Errorf("Mounts records %d layers, want 3", n)
	}
}

func TestTargetValidate(t *testing.T) {
	for _, tc := range []struct {
		target Target
		want   string
	}{
		{Target{Repository: "a"}, "needs a registry and a repository"},
		{Target{Registry: "r.io", Repository: "UPPER"}, "not a valid repository"},
		{Target{Registry: "r.io", Repository: "a", Tags: []string{"{BUILD_USER}"}}, "unless Bazel stamps: --stamp"},
		{Target{Registry: "r.io", Repository: "a", Tags: []string{".dot"}}, "is not valid"},
		{Target{Registry: "r.io", Repository: "a", Tags: []string{strings.Repeat("x", 129)}}, "is not valid"},
	} {
		err := tc.target.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error with %q", tc.target, err, tc.want)
		}
	}
	if err := (Target{Registry: "r.io:5000", Repository: "a/b", Tags: []string{"v1.2_3-x"}}).Validate(); err != nil {
		t.Errorf("valid target refused: %v", err)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// An eager push and a lazy one say the same of a registry that is down.
func TestEagerPushToARegistryThatIsDown(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := deadAddress(t)
	img, _ := random.Image(64, 1)
	p, _ := New(context.Background(), nil, nil)
	_, err := p.Push(img, Target{Registry: host, Repository: "app"})
	if err == nil || !strings.Contains(err.Error(), "registry "+host+" is not reachable") {
		t.Errorf("err = %v, want 'registry %s is not reachable'", err, host)
	}
}
