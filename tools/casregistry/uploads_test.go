package casregistry

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Abandoned upload sessions are dropped after uploadIdle, so that they
// never fill the table.
func TestIdleUploadsExpire(t *testing.T) {
	now := time.Unix(1700000000, 0)
	u := newUploads(DefaultMaxUploads, DefaultMaxUploadsPerClient)
	u.now = func() time.Time { return now }
	owner := func(i int) string { return fmt.Sprintf("ip:10.0.0.%d", i/DefaultMaxUploadsPerClient) }
	var first string
	for i := 0; i < DefaultMaxUploads; i++ {
		id, e := u.start("app", owner(i))
		if e != nil {
			t.Fatal(e)
		}
		if i == 0 {
			first = id
		}
	}
	if _, e := u.start("app", "ip:10.1.1.1"); e == nil || e.code != "TOOMANYREQUESTS" {
		t.Fatalf("upload %d: %v, want TOOMANYREQUESTS", DefaultMaxUploads+1, e)
	}
	// One session stays in use; the others are abandoned.
	now = now.Add(uploadIdle / 2)
	if _, e := u.get("app", owner(0), first); e != nil {
		t.Fatal(e)
	}
	now = now.Add(uploadIdle/2 + time.Second)
	if _, e := u.start("app", "ip:10.1.1.1"); e != nil {
		t.Fatalf("after %v idle: %v", uploadIdle, e)
	}
	if len(u.sessions) != 2 {
		t.Errorf("%d sessions left, want the one in use and the new one", len(u.sessions))
	}
	if _, e := u.get("app", owner(0), first); e != nil {
		t.Errorf("the session in use was dropped: %v", e)
	}
	if len(u.open) != 2 || u.open[owner(0)] != 1 {
		t.Errorf("open sessions by client: %v, want one each", u.open)
	}
}

// Issue 15, point 6: one client's POSTs do not take the sessions of the
// others; its own are refused once it has its share.
func TestUploadsPerClient(t *testing.T) {
	f := newFixture(t, "http")
	var loc string
	for i := 0; i < DefaultMaxUploadsPerClient; i++ {
		resp := f.do(t, http.MethodPost, "/v2/app/blobs/uploads/", "", nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %d: %d", i+1, resp.StatusCode)
		}
		loc = resp.Header.Get("Location")
	}
	wantError(t, f.do(t, http.MethodPost, "/v2/app/blobs/uploads/", "", nil), http.StatusTooManyRequests, "TOOMANYREQUESTS")

	// Another client (here: a user) still gets sessions.
	a, err := ReadAuth(writeFile(t, "tokens", "alice s3cret-alice\nbob s3cret-bob\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	g := newFixture(t, "http", WithAuth(a, false), WithUploadLimits(8, 2))
	as := func(token string) map[string]string { return map[string]string{"Authorization": "Bearer " + token} }
	for i := 0; i < 2; i++ {
		if resp := g.doAs(t, as("s3cret-alice"), http.MethodPost, "/v2/app/blobs/uploads/", nil); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("alice's POST %d: %d", i+1, resp.StatusCode)
		}
	}
	wantError(t, g.doAs(t, as("s3cret-alice"), http.MethodPost, "/v2/app/blobs/uploads/", nil), http.StatusTooManyRequests, "TOOMANYREQUESTS")
	resp := g.doAs(t, as("s3cret-bob"), http.MethodPost, "/v2/app/blobs/uploads/", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("bob's POST after alice's: %d", resp.StatusCode)
	}
	// A session is its client's: alice cannot write into bob's.
	wantError(t, g.doAs(t, as("s3cret-alice"), http.MethodPatch, resp.Header.Get("Location"), []byte("x")), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	// A cancelled session frees its place.
	if resp := f.do(t, http.MethodDelete, loc, "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if resp := f.do(t, http.MethodPost, "/v2/app/blobs/uploads/", "", nil); resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST after a DELETE: %d", resp.StatusCode)
	}
}
