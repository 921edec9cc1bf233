package casregistry

import (
	"testing"
	"time"
)

// Abandoned upload sessions are dropped after uploadIdle, so that they
// never fill the table.
func TestIdleUploadsExpire(t *testing.T) {
	now := time.Unix(1700000000, 0)
	u := uploads{sessions: map[string]*upload{}, now: func() time.Time { return now }}
	var first string
	for i := 0; i < maxUploads; i++ {
		id, e := u.start("app")
		if e != nil {
			t.Fatal(e)
		}
		if i == 0 {
			first = id
		}
	}
	if _, e := u.start("app"); e == nil || e.code != "TOOMANYREQUESTS" {
		t.Fatalf("upload %d: %v, want TOOMANYREQUESTS", maxUploads+1, e)
	}
	// One session stays in use; the others are abandoned.
	now = now.Add(uploadIdle / 2)
	if _, e := u.get("app", first); e != nil {
		t.Fatal(e)
	}
	now = now.Add(uploadIdle/2 + time.Second)
	if _, e := u.start("app"); e != nil {
		t.Fatalf("after %v idle: %v", uploadIdle, e)
	}
	if len(u.sessions) != 2 {
		t.Errorf("%d sessions left, want the one in use and the new one", len(u.sessions))
	}
	if _, e := u.get("app", first); e != nil {
		t.Errorf("the session in use was dropped: %v", e)
	}
}
