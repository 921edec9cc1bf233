// Package bes is a Build Event Service that pushes images: Bazel streams
// its build events to it (--bes_backend), and when a build succeeds it
// pushes the image of every push target that was built, reading the
// target's files and the image's blobs from the remote cache by the
// digests Bazel reported. Nobody runs a push target, and no byte of the
// image passes through the machine that ran Bazel.
//
// A push target is recognised by its outputs: image_push with the push
// strategy "bes" has a deploy spec <name>.bes.deploy.json (the image's files
// by their paths in the output tree), its push settings <name>.bes.push.json
// and tags <name>.bes.tags.txt among its default outputs, with the image's
// metadata files (see img/private/push_bes.bzl).
package bes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"
	"sync"
	"time"

	build "google.golang.org/genproto/googleapis/devtools/build/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/rules-img/rules_img/tools/bes/bep"
	"github.com/rules-img/rules_img/tools/cas"
)

// Target is a push target of a successful build.
type Target struct {
	// Label is the target's label, for messages.
	Label string
	// Spec is the deploy spec's path (as Files keys it).
	Spec string
	// Config is the push settings' path.
	Config string
	// Tags is the path of the tags file, one tag a line; empty if none.
	Tags string
	// Files are the files the target reported, by the paths they have in
	// the output tree; their bytes are in the remote cache.
	Files Files
}

// Pusher pushes the image of one push target.
type Pusher interface {
	// Push returns the reference it pushed (registry/repository@digest).
	// Its errors start with the target's label.
	Push(ctx context.Context, t Target) (string, error)
}

// Service implements the PublishBuildEvent service of
// google.devtools.build.v1.
type Service struct {
	pusher Pusher
	log    *log.Logger
	ctx    context.Context

	mu          sync.Mutex
	invocations map[string]*invocation
	pushes      sync.WaitGroup
}

// The names of a push target's outputs end with these.
const (
	SpecSuffix   = ".bes.deploy.json"
	ConfigSuffix = ".bes.push.json"
	TagsSuffix   = ".bes.tags.txt"
)

// keepFinished is how long a finished invocation is remembered, so that
// events Bazel sends again after a reconnect are acknowledged, not redone.
const keepFinished = time.Hour

// New returns a service that pushes with pusher and logs to logger; pushes
// run under ctx.
func New(ctx context.Context, pusher Pusher, logger *log.Logger) *Service {
	return &Service{pusher: pusher, log: logger, ctx: ctx, invocations: map[string]*invocation{}}
}

// Register adds the service to a gRPC server.
func (s *Service) Register(g *grpc.Server) {
	build.RegisterPublishBuildEventServer(g, s)
}

// Wait waits for the pushes that are running.
func (s *Service) Wait() { s.pushes.Wait() }

// PublishLifecycleEvent acknowledges build and invocation lifecycle events;
// the pushes follow the tool's event stream alone.
func (s *Service) PublishLifecycleEvent(_ context.Context, req *build.PublishLifecycleEventRequest) (*emptypb.Empty, error) {
	if req.GetBuildEvent().GetStreamId().GetBuildId() == "" {
		return nil, status.Error(codes.InvalidArgument, "lifecycle event without a stream id")
	}
	return &emptypb.Empty{}, nil
}

// PublishBuildToolEventStream takes Bazel's events in order and
// acknowledges each by its sequence number. A reconnecting Bazel sends
// again what was not acknowledged; events seen before are acknowledged
// again and not redone.
func (s *Service) PublishBuildToolEventStream(stream build.PublishBuildEvent_PublishBuildToolEventStreamServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		}
		ordered := req.GetOrderedBuildEvent()
		id := ordered.GetStreamId()
		if id.GetBuildId() == "" || id.GetInvocationId() == "" {
			return status.Error(codes.InvalidArgument, "event without a build and invocation id")
		}
		inv := s.invocation(id)
		if err := inv.take(ordered.GetSequenceNumber(), ordered.GetEvent(), s); err != nil {
			return err
		}
		if err := stream.Send(&build.PublishBuildToolEventStreamResponse{StreamId: id, SequenceNumber: ordered.GetSequenceNumber()}); err != nil {
			return err
		}
	}
}

func (s *Service) invocation(id *build.StreamId) *invocation {
	key := id.GetBuildId() + "/" + id.GetInvocationId() + "/" + id.GetComponent().String()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, inv := range s.invocations {
		if inv.isStale() {
			delete(s.invocations, k)
		}
	}
	inv, ok := s.invocations[key]
	if !ok {
		inv = &invocation{id: id.GetInvocationId(), next: 1, sets: map[string]*fileSet{}, lastEvent: time.Now()}
		s.invocations[key] = inv
	}
	return inv
}

// invocation is what one Bazel invocation has told so far.
type invocation struct {
	mu       sync.Mutex
	id       string
	next     int64
	sets     map[string]*fileSet
	targets  []completed
	finished time.Time
	// lastEvent is when the last event came: an invocation whose Bazel
	// went away without finishing is dropped after keepFinished.
	lastEvent time.Time
	// digestErr says why the files' digests cannot be read from the cache.
	digestErr error
}

type completed struct {
	label  string
	groups []*bep.OutputGroup
}

type fileSet struct {
	files    []file
	children []string
}

type file struct {
	path   string
	digest cas.Digest
	err    error
}

func (inv *invocation) isStale() bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return time.Since(inv.lastEvent) > keepFinished
}

// take handles the event with sequence number seq.
func (inv *invocation) take(seq int64, ev *build.BuildEvent, s *Service) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	switch {
	case seq < inv.next:
		return nil // sent again after a reconnect: acknowledged again
	case seq > inv.next:
		return status.Errorf(codes.FailedPrecondition, "invocation %s: event %d came before event %d", inv.id, seq, inv.next)
	}
	inv.next++
	inv.lastEvent = time.Now()
	any := ev.GetBazelEvent()
	if any == nil || !inv.finished.IsZero() {
		return nil
	}
	var e bep.BuildEvent
	if err := any.UnmarshalTo(&e); err != nil {
		return status.Errorf(codes.InvalidArgument, "invocation %s, event %d: %v", inv.id, seq, err)
	}
	switch p := e.Payload.(type) {
	case *bep.BuildEvent_OptionsParsed:
		inv.digestErr = digestFunction(append(p.OptionsParsed.GetStartupOptions(), p.OptionsParsed.GetCmdLine()...))
	case *bep.BuildEvent_NamedSetOfFiles:
		inv.sets[e.GetId().GetNamedSet().GetId()] = newFileSet(p.NamedSetOfFiles)
	case *bep.BuildEvent_Completed:
		tc := e.GetId().GetTargetCompleted()
		if p.Completed.GetSuccess() && tc.GetAspect() == "" {
			inv.targets = append(inv.targets, completed{label: tc.GetLabel(), groups: p.Completed.GetOutputGroup()})
		}
	case *bep.BuildEvent_Finished:
		inv.finished = time.Now()
		code := p.Finished.GetExitCode().GetCode()
		if p.Finished.GetExitCode() == nil && !p.Finished.GetOverallSuccess() {
			code = -1
		}
		targets := inv.pushTargets()
		inv.sets, inv.targets = nil, nil
		if code != 0 {
			if len(targets) > 0 {
				s.log.Printf("invocation %s: the build failed (exit code %d); %d push target(s) not pushed", inv.id, code, len(targets))
			}
			return nil
		}
		if inv.digestErr != nil {
			for _, t := range targets {
				s.log.Printf("invocation %s: push of %s failed: %v", inv.id, t.Label, inv.digestErr)
			}
			return nil
		}
		// Bazel's asynchronous cache uploads may still be under way: the
		// pusher waits for blobs that are not in the cache yet.
		s.push(inv.id, targets)
	}
	return nil
}

// digestFunction reports a --digest_function other than sha256 among
// Bazel's options: the files' digests would not be sha256, which is all
// the cache is read by.
func digestFunction(options []string) error {
	for _, o := range options {
		v, ok := strings.CutPrefix(o, "--digest_function=")
		if ok && !strings.EqualFold(v, "sha256") {
			return fmt.Errorf("Bazel ran with --digest_function=%s, so the digests it reports are not sha256; the images are read from the cache by sha256 only: build with the default digest function", v)
		}
	}
	return nil
}

func newFileSet(ns *bep.NamedSetOfFiles) *fileSet {
	fs := &fileSet{}
	for _, f := range ns.GetFiles() {
		fs.files = append(fs.files, fileOf(f))
	}
	for _, c := range ns.GetFileSets() {
		fs.children = append(fs.children, c.GetId())
	}
	return fs
}

// fileOf keeps a file's path in the output tree and its digest.
func fileOf(f *bep.File) file {
	path := strings.Join(append(append([]string{}, f.GetPathPrefix()...), f.GetName()), "/")
	if f.GetDigest() == "" {
		return file{path: path, err: fmt.Errorf("Bazel reported no digest for %s: build with --remote_cache", path)}
	}
	d := cas.Digest{Hash: f.GetDigest(), Size: f.GetLength()}
	if err := d.Validate(); err != nil {
		return file{path: path, err: fmt.Errorf("%s: %w (is Bazel's --digest_function sha256?)", path, err)}
	}
	return file{path: path, digest: d}
}

// pushTargets finds the push targets among the completed targets.
func (inv *invocation) pushTargets() []Target {
	var out []Target
	for _, c := range inv.targets {
		files := Files{}
		seen := map[string]bool{}
		var walk func(id string)
		walk = func(id string) {
			if seen[id] || inv.sets[id] == nil {
				return
			}
			seen[id] = true
			for _, f := range inv.sets[id].files {
				files[f.path] = f
			}
			for _, child := range inv.sets[id].children {
				walk(child)
			}
		}
		for _, g := range c.groups {
			for _, set := range g.GetFileSets() {
				walk(set.GetId())
			}
			for _, f := range g.GetInlineFiles() {
				ff := fileOf(f)
				files[ff.path] = ff
			}
		}
		for path := range files {
			stem, ok := strings.CutSuffix(path, SpecSuffix)
			if !ok {
				continue
			}
			if _, ok := files[stem+ConfigSuffix]; !ok {
				continue
			}
			t := Target{Label: c.label, Spec: path, Config: stem + ConfigSuffix, Files: files}
			if _, ok := files[stem+TagsSuffix]; ok {
				t.Tags = stem + TagsSuffix
			}
			out = append(out, t)
		}
	}
	return out
}

// push pushes the targets of a successful build, one after the other, in
// the background: Bazel does not wait for them.
func (s *Service) push(invocationID string, targets []Target) {
	if len(targets) == 0 {
		return
	}
	s.pushes.Add(1)
	go func() {
		defer s.pushes.Done()
		for _, t := range targets {
			start := time.Now()
			ref, err := s.pusher.Push(s.ctx, t)
			if err != nil {
				s.log.Printf("invocation %s: push failed: %v", invocationID, err)
				continue
			}
			s.log.Printf("invocation %s: pushed %s as %s in %.1fs", invocationID, t.Label, ref, time.Since(start).Seconds())
		}
	}()
}
