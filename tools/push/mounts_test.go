package push

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestMountsClaims(t *testing.T) {
	m := NewMounts()
	// An index repeats the blobs its platforms share: one claim each, and
	// nothing to wait for.
	claimed, wait := m.claim([]string{"a", "b", "a"})
	if len(claimed) != 2 || len(wait) != 0 {
		t.Fatalf("first push: claimed %v, %d waits; want a and b, none", claimed, len(wait))
	}
	// A push at the same time waits for the first, then mounts.
	claimed2, wait2 := m.claim([]string{"b", "c"})
	if len(claimed2) != 1 || claimed2[0] != "c" || len(wait2) != 1 {
		t.Fatalf("second push: claimed %v, %d waits; want c, and to wait for b", claimed2, len(wait2))
	}
	repo, _ := name.NewRepository("registry.example/first")
	m.release(claimed, &repo)
	select {
	case <-wait2[0]:
	default:
		t.Fatal("the second push still waits after the first ended")
	}
	if ref, ok := m.Where("b"); !ok || ref.Context().String() != repo.String() {
		t.Errorf("b is at %v, %v; want in %s", ref, ok, repo)
	}
	// A failed push ends its claims without recording the blobs.
	m.release(claimed2, nil)
	if _, ok := m.Where("c"); ok {
		t.Error("a blob of a failed push is recorded as pushed")
	}
	if claimed3, wait3 := m.claim([]string{"c"}); len(claimed3) != 1 || len(wait3) != 0 {
		t.Errorf("after a failed push, the next one claims its blob: %v, %d waits", claimed3, len(wait3))
	}
}
