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
	"google.golang.org/protobuf/proto"
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
	limits Limits

	mu          sync.Mutex
	invocations map[string]*invocation
	lastSweep   time.Time
	// pushing counts the invocations whose pushes are running. Its own
	// lock: it is taken with an invocation's held, which mu is not.
	pushMu  sync.Mutex
	pushing int
	pushes  sync.WaitGroup
}

// Limits bound what the service holds: what one invocation (one `bazel`
// command) has streamed so far is kept until it finishes, and whoever can
// reach the service can start invocations. With them the service holds at
// most about Invocations × Bytes of build events. A dropped invocation's
// events are still acknowledged, so that its Bazel is not held up, and
// nothing of it is pushed; the log line that drops it says why.
type Limits struct {
	// Invocations is how many invocations are tracked at once: in
	// progress, or finished and remembered so that events sent again after
	// a reconnect are acknowledged. A new one past it drops the finished
	// invocation, else the one in progress, that sent nothing for the
	// longest time (--max_invocations).
	Invocations int
	// FileSets is how many named sets of files one invocation may hold; an
	// invocation that sends more is dropped (--max_file_sets).
	FileSets int
	// Bytes is about how many bytes one invocation may hold (file paths,
	// digests, the outputs of completed targets); an invocation that sends
	// more is dropped (--max_invocation_bytes).
	Bytes int64
	// Idle is how long an invocation that sends nothing is kept
	// (--invocation_idle_timeout).
	Idle time.Duration
}

// DefaultLimits are the limits a zero field stands for. A build of 100,000
// output files holds about 25 MB (paths of about 100 bytes); an hour
// without events outlasts a long action, and Bazel's resends after a
// reconnect.
var DefaultLimits = Limits{Invocations: 64, FileSets: 100_000, Bytes: 32 << 20, Idle: time.Hour}

// maxIDLength bounds the build and invocation ids (Bazel's are UUIDs).
const maxIDLength = 256

// The names of a push target's outputs end with these.
const (
	SpecSuffix   = ".bes.deploy.json"
	ConfigSuffix = ".bes.push.json"
	TagsSuffix   = ".bes.tags.txt"
)

// New returns a service that pushes with pusher and logs to logger; pushes
// run under ctx. Zero limits are DefaultLimits'.
func New(ctx context.Context, pusher Pusher, logger *log.Logger, limits Limits) *Service {
	if limits.Invocations <= 0 {
		limits.Invocations = DefaultLimits.Invocations
	}
	if limits.FileSets <= 0 {
		limits.FileSets = DefaultLimits.FileSets
	}
	if limits.Bytes <= 0 {
		limits.Bytes = DefaultLimits.Bytes
	}
	if limits.Idle <= 0 {
		limits.Idle = DefaultLimits.Idle
	}
	return &Service{pusher: pusher, log: logger, ctx: ctx, limits: limits, invocations: map[string]*invocation{}}
}

// Tracked is what the service holds of the invocations it tracks: how many
// there are, and about how many bytes of their events it keeps.
func (s *Service) Tracked() (invocations int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, inv := range s.invocations {
		inv.mu.Lock()
		bytes += inv.bytes
		inv.mu.Unlock()
	}
	return len(s.invocations), bytes
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
		if len(id.GetBuildId()) > maxIDLength || len(id.GetInvocationId()) > maxIDLength {
			return status.Errorf(codes.InvalidArgument, "a build or invocation id longer than %d bytes", maxIDLength)
		}
		inv, err := s.invocation(id, ordered.GetSequenceNumber())
		if err != nil {
			return err
		}
		if err := inv.take(ordered.GetSequenceNumber(), ordered.GetEvent(), s); err != nil {
			return err
		}
		if err := stream.Send(&build.PublishBuildToolEventStreamResponse{StreamId: id, SequenceNumber: ordered.GetSequenceNumber()}); err != nil {
			return err
		}
	}
}

// invocation finds the invocation of a stream, or starts tracking it at
// its first event (seq 1): past Limits.Invocations, the one that has sent
// nothing for the longest time is dropped, a finished one first.
func (s *Service) invocation(id *build.StreamId, seq int64) (*invocation, error) {
	key := id.GetBuildId() + "/" + id.GetInvocationId() + "/" + id.GetComponent().String()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.lastSweep) > time.Second {
		s.lastSweep = now
		for k, inv := range s.invocations {
			if inv.idleFor(now) > s.limits.Idle {
				if inv.active() {
					s.log.Printf("invocation %s: dropped: it sent no event for %s (--invocation_idle_timeout)", inv.id, s.limits.Idle)
				}
				delete(s.invocations, k)
			}
		}
	}
	inv, ok := s.invocations[key]
	if ok {
		return inv, nil
	}
	if seq != 1 {
		return nil, status.Errorf(codes.FailedPrecondition, "invocation %s: event %d came before event 1 (the server holds no event of the invocation: it restarted, or dropped the invocation at its limits)",
			id.GetInvocationId(), seq)
	}
	for len(s.invocations) >= s.limits.Invocations {
		s.dropOldest(now)
	}
	inv = &invocation{id: id.GetInvocationId(), next: 1, sets: map[string]*fileSet{}, lastEvent: now, bytes: int64(len(key))}
	s.invocations[key] = inv
	return inv, nil
}

// dropOldest forgets the finished invocation that has sent nothing for
// the longest time, else the invocation in progress that has.
func (s *Service) dropOldest(now time.Time) {
	var oldest string
	var oldestIdle time.Duration
	oldestActive := true
	for k, inv := range s.invocations {
		idle, active := inv.idleFor(now), inv.active()
		if oldest == "" || (oldestActive && !active) || (active == oldestActive && idle > oldestIdle) {
			oldest, oldestIdle, oldestActive = k, idle, active
		}
	}
	inv := s.invocations[oldest]
	delete(s.invocations, oldest)
	if oldestActive {
		s.log.Printf("invocation %s: dropped, its push targets will not be pushed: %d invocations are in progress (--max_invocations), and it sent nothing for the longest time (%s)",
			inv.id, s.limits.Invocations, oldestIdle.Round(time.Millisecond))
	}
}

// invocation is what one Bazel invocation has told so far.
type invocation struct {
	mu       sync.Mutex
	id       string
	next     int64
	sets     map[string]*fileSet
	targets  []completed
	finished time.Time
	// dropped is set when the invocation went over its limits: its events
	// are acknowledged and nothing more is kept.
	dropped bool
	// bytes is about how many bytes sets and targets hold.
	bytes int64
	// lastEvent is when the last event came: an invocation whose Bazel
	// went away without finishing is dropped after Limits.Idle.
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

func (inv *invocation) idleFor(now time.Time) time.Duration {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return now.Sub(inv.lastEvent)
}

// active reports an invocation in progress, that holds events.
func (inv *invocation) active() bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.finished.IsZero() && !inv.dropped
}

// The estimated cost of what an invocation keeps, beyond its strings.
const (
	fileCost   = 96
	setCost    = 128
	targetCost = 128
)

func (fs *fileSet) cost(id string) int64 {
	n := int64(setCost + len(id))
	for _, f := range fs.files {
		n += fileCost + int64(len(f.path)+len(f.digest.Hash))
	}
	for _, c := range fs.children {
		n += 16 + int64(len(c))
	}
	return n
}

// drop forgets what inv holds, for why.
func (inv *invocation) drop(s *Service, why string) {
	var labels []string
	for _, c := range inv.targets {
		labels = append(labels, c.label)
	}
	inv.dropped, inv.sets, inv.targets, inv.bytes = true, nil, nil, 0
	more := ""
	if len(labels) > 0 {
		more = fmt.Sprintf(" (targets completed so far: %s)", strings.Join(labels, " "))
	}
	s.log.Printf("invocation %s: dropped, its push targets will not be pushed: %s%s", inv.id, why, more)
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
	if any == nil || !inv.finished.IsZero() || inv.dropped {
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
		setID := e.GetId().GetNamedSet().GetId()
		if old, ok := inv.sets[setID]; ok {
			inv.bytes -= old.cost(setID)
		}
		fs := newFileSet(p.NamedSetOfFiles)
		inv.sets[setID] = fs
		inv.bytes += fs.cost(setID)
		if len(inv.sets) > s.limits.FileSets {
			inv.drop(s, fmt.Sprintf("it sent more than %d sets of files (--max_file_sets)", s.limits.FileSets))
			return nil
		}
	case *bep.BuildEvent_Completed:
		tc := e.GetId().GetTargetCompleted()
		if p.Completed.GetSuccess() && tc.GetAspect() == "" {
			c := completed{label: tc.GetLabel(), groups: p.Completed.GetOutputGroup()}
			inv.targets = append(inv.targets, c)
			inv.bytes += targetCost + int64(len(c.label))
			for _, g := range c.groups {
				inv.bytes += int64(proto.Size(g))
			}
		}
	}
	if inv.bytes > s.limits.Bytes {
		inv.drop(s, fmt.Sprintf("it sent more than %d bytes of files and targets (--max_invocation_bytes)", s.limits.Bytes))
		return nil
	}
	if p, ok := e.Payload.(*bep.BuildEvent_Finished); ok {
		inv.finished = time.Now()
		code := p.Finished.GetExitCode().GetCode()
		if p.Finished.GetExitCode() == nil && !p.Finished.GetOverallSuccess() {
			code = -1
		}
		targets := inv.pushTargets()
		inv.sets, inv.targets, inv.bytes = nil, nil, 0
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
//
// At most Limits.Invocations invocations push at once: past it, the
// targets are not pushed, and the log says so.
func (s *Service) push(invocationID string, targets []Target) {
	if len(targets) == 0 {
		return
	}
	s.pushMu.Lock()
	busy := s.pushing >= s.limits.Invocations
	if !busy {
		s.pushing++
	}
	s.pushMu.Unlock()
	if busy {
		s.log.Printf("invocation %s: %d push target(s) not pushed: the pushes of %d invocations are under way (--max_invocations)", invocationID, len(targets), s.limits.Invocations)
		return
	}
	s.pushes.Add(1)
	go func() {
		defer s.pushes.Done()
		defer func() {
			s.pushMu.Lock()
			s.pushing--
			s.pushMu.Unlock()
		}()
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
