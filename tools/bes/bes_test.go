package bes

import (
	"context"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"

	build "google.golang.org/genproto/googleapis/devtools/build/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/rules-img/rules_img/tools/bes/bep"
	"github.com/rules-img/rules_img/tools/cas"
)

type fakePusher struct {
	mu     sync.Mutex
	pushed []Target
	done   chan struct{}
}

func (p *fakePusher) Push(_ context.Context, t Target) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pushed = append(p.pushed, t)
	if p.done != nil {
		p.done <- struct{}{}
	}
	return "registry/app@sha256:1", nil
}

// start starts the service on 127.0.0.1 and returns a client.
func start(t *testing.T, p Pusher) (build.PublishBuildEventClient, *Service, *strings.Builder) {
	t.Helper()
	var logs strings.Builder
	svc := New(context.Background(), p, log.New(&syncWriter{w: &logs}, "", 0), Limits{})
	g := grpc.NewServer()
	svc.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return build.NewPublishBuildEventClient(conn), svc, &logs
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func bin(name string, data string) *bep.File {
	d := cas.Of([]byte(data))
	return &bep.File{Name: name, PathPrefix: []string{"bazel-out", "k8-fastbuild", "bin"}, Digest: d.Hash, Length: d.Size}
}

// events is a successful build of one push target and one other target.
func events(exitCode int32) []*bep.BuildEvent {
	set := func(id string) *bep.BuildEventId {
		return &bep.BuildEventId{Id: &bep.BuildEventId_NamedSet{NamedSet: &bep.BuildEventId_NamedSetOfFilesId{Id: id}}}
	}
	done := func(label, setID string) *bep.BuildEvent {
		return &bep.BuildEvent{
			Id: &bep.BuildEventId{Id: &bep.BuildEventId_TargetCompleted{TargetCompleted: &bep.BuildEventId_TargetCompletedId{Label: label}}},
			Payload: &bep.BuildEvent_Completed{Completed: &bep.TargetComplete{Success: true, OutputGroup: []*bep.OutputGroup{
				{Name: "default", FileSets: []*bep.BuildEventId_NamedSetOfFilesId{{Id: setID}}},
			}}},
		}
	}
	return []*bep.BuildEvent{
		{Id: &bep.BuildEventId{Id: &bep.BuildEventId_Started{Started: &bep.BuildEventId_BuildStartedId{}}}, Payload: &bep.BuildEvent_Started{Started: &bep.BuildStarted{Uuid: "u"}}},
		{Id: set("1"), Payload: &bep.BuildEvent_NamedSetOfFiles{NamedSetOfFiles: &bep.NamedSetOfFiles{Files: []*bep.File{bin("app.manifest.json", "manifest")}}}},
		{Id: set("0"), Payload: &bep.BuildEvent_NamedSetOfFiles{NamedSetOfFiles: &bep.NamedSetOfFiles{
			Files:    []*bep.File{bin("push.bes.deploy.json", "spec"), bin("push.deploy.json", "runfiles spec"), bin("push.bes.push.json", "config"), bin("push.push.json", "runfiles config"), bin("push.bes.tags.txt", "latest")},
			FileSets: []*bep.BuildEventId_NamedSetOfFilesId{{Id: "1"}},
		}}},
		done("//:push", "0"),
		done("//:app", "1"),
		{Id: &bep.BuildEventId{Id: &bep.BuildEventId_BuildFinished{BuildFinished: &bep.BuildEventId_BuildFinishedId{}}}, Payload: &bep.BuildEvent_Finished{Finished: &bep.BuildFinished{ExitCode: &bep.BuildFinished_ExitCode{Code: exitCode}}}},
	}
}

// send streams events (sequence numbers from first) and returns the acks.
func send(t *testing.T, c build.PublishBuildEventClient, invocation string, first int64, evs []*bep.BuildEvent) ([]int64, error) {
	t.Helper()
	stream, err := c.PublishBuildToolEventStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	id := &build.StreamId{BuildId: "b", InvocationId: invocation, Component: build.StreamId_TOOL}
	for i, e := range evs {
		a, err := anypb.New(e)
		if err != nil {
			t.Fatal(err)
		}
		err = stream.Send(&build.PublishBuildToolEventStreamRequest{OrderedBuildEvent: &build.OrderedBuildEvent{
			StreamId: id, SequenceNumber: first + int64(i),
			Event: &build.BuildEvent{Event: &build.BuildEvent_BazelEvent{BazelEvent: a}},
		}})
		if err == io.EOF {
			// The server ended the stream (it refused an event): Recv
			// gives its status.
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	stream.CloseSend()
	var acks []int64
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return acks, nil
		}
		if err != nil {
			return acks, err
		}
		acks = append(acks, resp.GetSequenceNumber())
	}
}

func TestPushesTheBuiltPushTargets(t *testing.T) {
	p := &fakePusher{}
	c, svc, logs := start(t, p)
	if _, err := c.PublishLifecycleEvent(context.Background(), &build.PublishLifecycleEventRequest{BuildEvent: &build.OrderedBuildEvent{StreamId: &build.StreamId{BuildId: "b"}}}); err != nil {
		t.Fatal(err)
	}
	acks, err := send(t, c, "inv1", 1, events(0))
	if err != nil {
		t.Fatal(err)
	}
	if len(acks) != 6 || acks[0] != 1 || acks[5] != 6 {
		t.Errorf("acks %v, want 1..6", acks)
	}
	svc.Wait()
	if len(p.pushed) != 1 {
		t.Fatalf("pushed %d targets, want the one push target", len(p.pushed))
	}
	got := p.pushed[0]
	if got.Label != "//:push" || got.Spec != "bazel-out/k8-fastbuild/bin/push.bes.deploy.json" || got.Config != "bazel-out/k8-fastbuild/bin/push.bes.push.json" || got.Tags != "bazel-out/k8-fastbuild/bin/push.bes.tags.txt" {
		t.Errorf("target %+v", got)
	}
	// Files of nested sets are found, by output path and by short path.
	for _, path := range []string{"bazel-out/k8-fastbuild/bin/app.manifest.json", "app.manifest.json"} {
		d, err := got.Files.Digest(path)
		if err != nil || d != cas.Of([]byte("manifest")) {
			t.Errorf("Digest(%s) = %v, %v", path, d, err)
		}
	}
	if _, err := got.Files.Digest("missing.json"); err == nil {
		t.Error("a file the build did not report has a digest")
	}
	if !strings.Contains(logs.String(), "pushed //:push as registry/app@sha256:1") {
		t.Errorf("log: %s", logs.String())
	}

	// Bazel reconnects and sends the last events again: acknowledged, not pushed again.
	acks, err = send(t, c, "inv1", 5, events(0)[4:])
	if err != nil || len(acks) != 2 {
		t.Errorf("resent events: acks %v, %v", acks, err)
	}
	svc.Wait()
	if len(p.pushed) != 1 {
		t.Errorf("a resent BuildFinished pushed again")
	}
}

func TestFailedBuildPushesNothing(t *testing.T) {
	p := &fakePusher{}
	c, svc, logs := start(t, p)
	if _, err := send(t, c, "inv2", 1, events(1)); err != nil {
		t.Fatal(err)
	}
	svc.Wait()
	if len(p.pushed) != 0 {
		t.Errorf("a failed build pushed %d targets", len(p.pushed))
	}
	if !strings.Contains(logs.String(), "the build failed (exit code 1); 1 push target(s) not pushed") {
		t.Errorf("log: %s", logs.String())
	}
}

func TestEventsOutOfOrder(t *testing.T) {
	c, _, _ := start(t, &fakePusher{})
	acks, err := send(t, c, "inv3", 2, events(0))
	if err == nil || !strings.Contains(err.Error(), "event 2 came before event 1") || len(acks) != 0 {
		t.Errorf("out of order: acks %v, err %v", acks, err)
	}
}

func TestDigestsOtherThanSHA256(t *testing.T) {
	f := fileOf(&bep.File{Name: "a.json", PathPrefix: []string{"bazel-out", "k8", "bin"}, Digest: strings.Repeat("a", 128), Length: 3})
	files := Files{f.path: f}
	if _, err := files.Digest("a.json"); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("a 512-bit digest: %v", err)
	}
	f = fileOf(&bep.File{Name: "b.json", PathPrefix: []string{"bazel-out", "k8", "bin"}})
	if _, err := (Files{f.path: f}).Digest("b.json"); err == nil || !strings.Contains(err.Error(), "--remote_cache") {
		t.Errorf("no digest: %v", err)
	}
	two := Files{
		"bazel-out/k8-a/bin/x.json": {path: "bazel-out/k8-a/bin/x.json"},
		"bazel-out/k8-b/bin/x.json": {path: "bazel-out/k8-b/bin/x.json"},
	}
	if _, err := two.Digest("x.json"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("two configurations: %v", err)
	}
}

func TestOtherDigestFunctionIsRefused(t *testing.T) {
	p := &fakePusher{}
	c, svc, logs := start(t, p)
	evs := events(0)
	opts := &bep.BuildEvent{
		Id:      &bep.BuildEventId{Id: &bep.BuildEventId_OptionsParsed{OptionsParsed: &bep.BuildEventId_OptionsParsedId{}}},
		Payload: &bep.BuildEvent_OptionsParsed{OptionsParsed: &bep.OptionsParsed{StartupOptions: []string{"--digest_function=blake3"}}},
	}
	evs = append([]*bep.BuildEvent{evs[0], opts}, evs[1:]...)
	if _, err := send(t, c, "inv4", 1, evs); err != nil {
		t.Fatal(err)
	}
	svc.Wait()
	if len(p.pushed) != 0 {
		t.Error("pushed with blake3 digests")
	}
	if !strings.Contains(logs.String(), "push of //:push failed: Bazel ran with --digest_function=blake3") {
		t.Errorf("log: %s", logs.String())
	}
}
