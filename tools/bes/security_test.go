package bes

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	build "google.golang.org/genproto/googleapis/devtools/build/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/rules-img/rules_img/tools/bes/bep"
	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/cas/castest"
	"github.com/rules-img/rules_img/tools/serve"
	"github.com/rules-img/rules_img/tools/serve/servetest"
)

func allow(t *testing.T, entries ...string) AllowList {
	t.Helper()
	var a AllowList
	for _, e := range entries {
		if err := a.Set(e); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func TestAllowList(t *testing.T) {
	a := allow(t, "registry.example.com/team", "docker.io/library/ubuntu", "mirror.example.com:5000")
	for dest, want := range map[string]bool{
		"registry.example.com/team":         true,
		"registry.example.com/team/app":     true,
		"registry.example.com/teamwork":     false,
		"registry.example.com/other/team":   false,
		"evil.example.com/team/app":         false,
		"index.docker.io/library/ubuntu":    true,
		"docker.io/ubuntu":                  true,
		"docker.io/library/debian":          false,
		"mirror.example.com:5000/any/thing": true,
		"mirror.example.com/any/thing":      false,
	} {
		reg, repo, _ := strings.Cut(dest, "/")
		if err := a.Check(reg, repo); (err == nil) != want {
			t.Errorf("Check(%s) = %v, want allowed %v", dest, err, want)
		}
	}
	if err := a.Check("evil.example.com", "app"); err == nil || !strings.Contains(err.Error(), "--allow_push") {
		t.Errorf("a refusal does not name the flag: %v", err)
	}
	if err := (AllowList{}).Check("registry.example.com", "team/app"); err == nil || !strings.Contains(err.Error(), "--allow_push registry.example.com/team/app") {
		t.Errorf("an empty list: %v", err)
	}
	for _, bad := range []string{"", "UPPER/Case", "registry.example.com/bad//path", "registry.example.com/team/..", "registry.example.com/-x"} {
		if err := new(AllowList).Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	if got := a.String(); got != "registry.example.com/team,index.docker.io/library/ubuntu,mirror.example.com:5000" {
		t.Errorf("String() = %s", got)
	}
}

// forge replaces a target's push settings with config, as a client that
// writes to the shared cache could.
func forge(t *testing.T, cache *castest.Cache, target Target, config map[string]any) {
	t.Helper()
	data, _ := json.Marshal(config)
	cache.Add(data)
	target.Files[target.Config] = file{path: target.Config, digest: cas.Of(data)}
}

func TestPushesOnlyToTheAllowList(t *testing.T) {
	host, cache, store := pushFixture(t)
	img, _ := random.Image(1024, 1)
	target := builtTarget(t, cache, img, host, true)
	digest, _ := img.Digest()
	pushed := func(repo string) bool {
		r, _ := name.NewDigest(host + "/" + repo + "@" + digest.String())
		_, err := remote.Head(r)
		return err == nil
	}

	// A repository that is not on the list: nothing is written.
	_, err := CachePusher{Cache: store, Allow: allow(t, host+"/team")}.Push(context.Background(), target)
	if err == nil || !strings.Contains(err.Error(), host+"/e2e/app is not on the server's allow-list") || !strings.HasPrefix(err.Error(), "//:push: ") {
		t.Errorf("a repository not on the list: %v", err)
	}
	// No list: nothing is pushed.
	if _, err := (CachePusher{Cache: store}).Push(context.Background(), target); err == nil || !strings.Contains(err.Error(), "allows no push") {
		t.Errorf("no list: %v", err)
	}
	// A forged config that names an allowed registry in another way is
	// checked as it is parsed.
	forge(t, cache, target, map[string]any{"label": "//:push", "registry": host, "repository": "team/../e2e/app", "strategy": "bes"})
	for _, repo := range []string{"team/../e2e/app", "team/./app", "team//app", "team/app/"} {
		forge(t, cache, target, map[string]any{"label": "//:push", "registry": host, "repository": repo, "strategy": "bes"})
		if _, err := (CachePusher{Cache: store, Allow: allow(t, host+"/team")}).Push(context.Background(), target); err == nil || !strings.Contains(err.Error(), "not a valid repository") {
			t.Errorf("repository %s: %v", repo, err)
		}
	}
	if pushed("e2e/app") {
		t.Error("the image was pushed to a repository not on the list")
	}
	// --registry replaces the target's registry before the check.
	forge(t, cache, target, map[string]any{"label": "//:push", "registry": "prod.example.com", "repository": "e2e/app", "strategy": "bes"})
	if _, err := (CachePusher{Cache: store, Registry: host, Allow: allow(t, "prod.example.com/e2e")}).Push(context.Background(), target); err == nil {
		t.Error("the allow-list was checked before --registry replaced the registry")
	}
	if _, err := (CachePusher{Cache: store, Registry: host, Allow: allow(t, host+"/e2e")}).Push(context.Background(), target); err != nil || !pushed("e2e/app") {
		t.Errorf("an allowed push: %v", err)
	}
}

func TestForgedCacheSettingsAreIgnored(t *testing.T) {
	host, cache, store := pushFixture(t)
	// A helper that would leave a mark if the server ran it.
	mark := filepath.Join(t.TempDir(), "ran")
	helper := filepath.Join(t.TempDir(), "helper.sh")
	os.WriteFile(helper, []byte("#!/bin/sh\ntouch "+mark+"\necho '{\"headers\":{}}'\n"), 0o755)
	// A cache that records whether it is asked anything.
	var asked atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { asked.Add(1); w.WriteHeader(404) }))
	defer evil.Close()
	evilURL := evil.URL

	img, _ := random.Image(1024, 2)
	target := builtTarget(t, cache, img, host, true)
	forge(t, cache, target, map[string]any{
		"label": "//:push", "registry": host, "repository": "e2e/app", "strategy": "bes",
		"remote_cache": evilURL, "credential_helper": helper,
	})
	var logs []string
	logf := func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
	if _, err := (CachePusher{Cache: store, Allow: allow(t, host), Log: logf}).Push(context.Background(), target); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("the server ran the credential helper the push settings named")
	}
	if asked.Load() > 0 {
		t.Errorf("the server asked the cache the push settings named (%d requests)", asked.Load())
	}
	all := strings.Join(logs, "\n")
	if !strings.Contains(all, "//:push: the push settings name a remote cache (remote_cache); ignored") ||
		!strings.Contains(all, "name a credential helper (\""+helper+"\"); ignored") {
		t.Errorf("log:\n%s", all)
	}
	if strings.Contains(all, evilURL) {
		t.Error("the log shows the remote cache's URL, which may hold credentials")
	}
}

// authServer serves the service with TLS and auth, and returns its address.
func authServer(t *testing.T, pki *servetest.PKI, auth Authenticator) string {
	t.Helper()
	cfg, err := serve.TLSConfig(pki.ServerCert, pki.ServerKey, map[bool]string{true: pki.CA}[auth.ClientCerts], auth.Tokens == nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := New(context.Background(), &fakePusher{}, log.New(&strings.Builder{}, "", 0), Limits{})
	g := grpc.NewServer(append(auth.ServerOptions(), grpc.Creds(credentials.NewTLS(cfg)))...)
	svc.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// call makes a lifecycle RPC and a stream of events with the client TLS
// config and the Authorization header (none if empty), and returns the
// codes.
func call(t *testing.T, addr string, client *tls.Config, authorization string) (unary, stream codes.Code) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(client)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if authorization != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authorization)
	}
	c := build.NewPublishBuildEventClient(conn)
	_, err = c.PublishLifecycleEvent(ctx, &build.PublishLifecycleEventRequest{BuildEvent: &build.OrderedBuildEvent{StreamId: &build.StreamId{BuildId: "b"}}})
	unary = status.Code(err)
	s, err := c.PublishBuildToolEventStream(ctx)
	if err == nil {
		err = s.Send(&build.PublishBuildToolEventStreamRequest{OrderedBuildEvent: &build.OrderedBuildEvent{
			StreamId: &build.StreamId{BuildId: "b", InvocationId: "i"}, SequenceNumber: 1, Event: &build.BuildEvent{}}})
		if err == nil {
			_, err = s.Recv()
		} else {
			_, err = s.Recv()
		}
	}
	return unary, status.Code(err)
}

func TestAuthentication(t *testing.T) {
	pki := servetest.NewPKI(t, "bes")
	file := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(file, []byte("good-token\n"), 0o600)
	tokens, err := serve.LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	trust := &tls.Config{RootCAs: pki.Pool}
	withCert := &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{pki.ClientCert(t, "ci")}}
	stranger := servetest.NewPKI(t, "stranger")
	withOtherCert := &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{stranger.ClientCert(t, "ci")}}

	byToken := authServer(t, pki, Authenticator{Tokens: tokens})
	byCert := authServer(t, pki, Authenticator{ClientCerts: true})
	byEither := authServer(t, pki, Authenticator{Tokens: tokens, ClientCerts: true})
	for _, c := range []struct {
		name          string
		addr          string
		client        *tls.Config
		authorization string
		want          codes.Code
	}{
		{"tokens: no credentials", byToken, trust, "", codes.Unauthenticated},
		{"tokens: a wrong token", byToken, trust, "Bearer bad-token", codes.Unauthenticated},
		{"tokens: a prefix of the token", byToken, trust, "Bearer good", codes.Unauthenticated},
		{"tokens: another scheme", byToken, trust, "Basic good-token", codes.Unauthenticated},
		{"tokens: the token", byToken, trust, "Bearer good-token", codes.OK},
		{"mTLS: no client certificate", byCert, trust, "", codes.Unavailable},
		{"mTLS: no client certificate, a token", byCert, trust, "Bearer good-token", codes.Unavailable},
		{"mTLS: a certificate of another CA", byCert, withOtherCert, "", codes.Unavailable},
		{"mTLS: a client certificate", byCert, withCert, "", codes.OK},
		{"either: no credentials", byEither, trust, "", codes.Unauthenticated},
		{"either: a wrong token", byEither, trust, "Bearer bad-token", codes.Unauthenticated},
		{"either: the token", byEither, trust, "Bearer good-token", codes.OK},
		{"either: a client certificate", byEither, withCert, "", codes.OK},
		// The client sends no certificate the server's CAs did not sign.
		{"either: a certificate of another CA", byEither, withOtherCert, "", codes.Unauthenticated},
		{"either: a certificate of another CA, the token", byEither, withOtherCert, "Bearer good-token", codes.OK},
	} {
		unary, stream := call(t, c.addr, c.client, c.authorization)
		// An admitted stream of one event is acknowledged, or ends with
		// EOF (OK).
		if unary != c.want || stream != c.want {
			t.Errorf("%s: lifecycle %v, stream %v, want %v", c.name, unary, stream, c.want)
		}
	}
}

// fakeInvocation streams an invocation that never finishes: sets named
// sets of files, each of files files with long paths.
func fakeInvocation(t *testing.T, c build.PublishBuildEventClient, invocation string, sets, files int) error {
	t.Helper()
	var evs []*bep.BuildEvent
	for s := range sets {
		ns := &bep.NamedSetOfFiles{}
		for f := range files {
			ns.Files = append(ns.Files, bin(fmt.Sprintf("%s/set%d/%s-%d.txt", invocation, s, strings.Repeat("x", 100), f), fmt.Sprint(s, f)))
		}
		evs = append(evs, &bep.BuildEvent{
			Id:      &bep.BuildEventId{Id: &bep.BuildEventId_NamedSet{NamedSet: &bep.BuildEventId_NamedSetOfFilesId{Id: fmt.Sprint(s)}}},
			Payload: &bep.BuildEvent_NamedSetOfFiles{NamedSetOfFiles: ns},
		})
	}
	_, err := send(t, c, invocation, 1, evs)
	return err
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Many invocations that never finish, each larger than a limit: what the
// service holds stays under its limits, and the drops are logged.
func TestMemoryStaysBounded(t *testing.T) {
	limits := Limits{Invocations: 4, FileSets: 50, Bytes: 256 << 10, Idle: time.Hour}
	var logs strings.Builder
	svc := New(context.Background(), &fakePusher{}, log.New(&syncWriter{w: &logs}, "", 0), limits)
	g := grpc.NewServer()
	svc.Register(g)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go g.Serve(lis)
	defer g.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := build.NewPublishBuildEventClient(conn)

	before := heap()
	const n = 40
	for i := range n {
		// Each sends about 1 MB: 40 sets of 100 files.
		if err := fakeInvocation(t, c, fmt.Sprintf("big%d", i), 40, 100); err != nil {
			t.Fatal(err)
		}
		invocations, bytes := svc.Tracked()
		if invocations > limits.Invocations || bytes > int64(limits.Invocations)*limits.Bytes {
			t.Fatalf("after %d invocations: %d tracked, holding %d bytes", i+1, invocations, bytes)
		}
	}
	// Many small ones, of more sets than allowed, or none.
	for i := range n {
		sets := 2
		if i%2 == 0 {
			sets = limits.FileSets + 1
		}
		if err := fakeInvocation(t, c, fmt.Sprintf("sets%d", i), sets, 1); err != nil {
			t.Fatal(err)
		}
	}
	invocations, bytes := svc.Tracked()
	if invocations > limits.Invocations || bytes > int64(limits.Invocations)*limits.Bytes {
		t.Errorf("%d tracked, holding %d bytes", invocations, bytes)
	}
	// The accounting is an estimate: the heap has it in its bounds too
	// (40 MB went in).
	if grown := int64(heap()) - int64(before); grown > 16<<20 {
		t.Errorf("the heap grew by %d bytes", grown)
	}
	out := logs.String()
	for _, want := range []string{
		"invocation big0: dropped, its push targets will not be pushed: it sent more than 262144 bytes of files and targets (--max_invocation_bytes)",
		"invocation sets0: dropped, its push targets will not be pushed: it sent more than 50 sets of files (--max_file_sets)",
		"invocation sets1: dropped, its push targets will not be pushed: 4 invocations are in progress (--max_invocations)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if strings.Contains(out, "invocation sets39: dropped") {
		t.Error("the newest invocation was dropped")
	}
}

// A dropped invocation's remaining events are acknowledged, and it pushes
// nothing; an invocation idle past the limit is dropped.
func TestDroppedAndIdleInvocations(t *testing.T) {
	p := &fakePusher{}
	var logs strings.Builder
	svc := New(context.Background(), p, log.New(&syncWriter{w: &logs}, "", 0), Limits{FileSets: 1, Idle: 50 * time.Millisecond})
	g := grpc.NewServer()
	svc.Register(g)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go g.Serve(lis)
	defer g.Stop()
	conn, _ := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()
	c := build.NewPublishBuildEventClient(conn)

	// events(0) has two named sets.
	acks, err := send(t, c, "over", 1, events(0))
	if err != nil || len(acks) != 6 {
		t.Errorf("an invocation over its limits: acks %v, %v", acks, err)
	}
	svc.Wait()
	if len(p.pushed) != 0 {
		t.Error("a dropped invocation pushed")
	}
	if _, err := send(t, c, "idle", 1, events(0)[:2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past Idle, and the sweep's interval
	if _, err := send(t, c, "next", 1, events(0)[:1]); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "invocation idle: dropped: it sent no event for 50ms (--invocation_idle_timeout)") {
		t.Errorf("log: %s", logs.String())
	}
	if n, _ := svc.Tracked(); n != 1 {
		t.Errorf("%d invocations tracked, want the one that just came", n)
	}
	// The dropped invocation's Bazel goes on: it is told, and nothing is
	// tracked for it.
	if _, err := send(t, c, "idle", 3, events(0)[2:]); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "dropped the invocation") {
		t.Errorf("events of a dropped invocation: %v", err)
	}
	if n, _ := svc.Tracked(); n != 1 {
		t.Errorf("%d invocations tracked after a dropped one came back", n)
	}
}
