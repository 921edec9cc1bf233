package push

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/rules-img/rules_img/tools/auth"
)

// go-containerregistry pings a registry (GET /v2/) before its first
// request to each repository: a fleet pushed to a thousand repositories of
// one registry pays a thousand pings, and the push's own reads paid as
// many again. A registry whose challenge is not bearer (no auth, or basic
// auth) authenticates every request the same way, so one transport, made
// after one ping, serves all its repositories. A bearer registry scopes
// its tokens to repositories, so each push gets its own transport, shared
// by its reads and its writes.

// retryStatusCodes are go-containerregistry's: answers worth another try.
var retryStatusCodes = []int{
	http.StatusRequestTimeout,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
	http.StatusTooManyRequests,
	499, // nginx: the client closed the request
	522, // Cloudflare: connection timed out
}

// retryable is go-containerregistry's predicate: network faults worth
// another try.
func retryable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	temporary, ok := err.(interface{ Temporary() bool })
	return (ok && temporary.Temporary()) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// sharedTransport is a registry's transport for every repository, or nil
// for a bearer registry.
type sharedTransport struct {
	once sync.Once
	rt   http.RoundTripper
	err  error
}

// transportFor is an authenticated transport for writing to repo and
// reading the repositories in sources (those blobs are mounted from).
func (p *Pusher) transportFor(repo name.Repository, sources []name.Repository) (http.RoundTripper, error) {
	authenticator, err := authn.Resolve(p.ctx, auth.Keychain(), repo.Registry)
	if err != nil {
		return nil, err
	}
	p.sharedMu.Lock()
	s, ok := p.shared[repo.RegistryStr()]
	if !ok {
		s = &sharedTransport{}
		p.shared[repo.RegistryStr()] = s
	}
	p.sharedMu.Unlock()
	s.once.Do(func() {
		challenge, err := transport.Ping(p.ctx, repo.Registry, p.base)
		if err != nil {
			s.err = err
			return
		}
		if !strings.EqualFold(challenge.Scheme, "bearer") {
			s.rt, s.err = transport.NewWithContext(p.ctx, repo.Registry, authenticator, p.base, nil)
		}
	})
	if s.err != nil || s.rt != nil {
		return s.rt, s.err
	}
	scopes := []string{repo.Scope(transport.PushScope)}
	for _, src := range sources {
		scopes = append(scopes, src.Scope(transport.PullScope))
	}
	return transport.NewWithContext(p.ctx, repo.Registry, authenticator, p.base, scopes)
}

// connect returns repo's transport (see transportFor) and a
// go-containerregistry pusher over it, whose progress joins the run's;
// done ends the pusher.
func (p *Pusher) connect(repo name.Repository, sources []name.Repository) (rt http.RoundTripper, w *remote.Pusher, done func(), err error) {
	rt, err = p.transportFor(repo, sources)
	if err != nil {
		return nil, nil, nil, err
	}
	w, done, err = p.writer(rt)
	return rt, w, done, err
}

// writer is a go-containerregistry pusher over rt, whose progress joins
// the run's; done ends it.
func (p *Pusher) writer(rt http.RoundTripper) (w *remote.Pusher, done func(), err error) {
	opts := append(append([]remote.Option{}, p.opts...), remote.WithTransport(rt))
	done = func() {}
	if p.progress != nil {
		ch := p.progress.channel()
		opts = append(opts, remote.WithProgress(ch))
		done = func() { close(ch) }
	}
	w, err = remote.NewPusher(opts...)
	if err != nil {
		done()
		return nil, nil, err
	}
	return w, done, nil
}

// progressSum adds up the updates of several go-containerregistry
// pushers, each counting its own totals, into one stream of totals.
type progressSum struct {
	mu              sync.Mutex
	out             chan<- v1.Update
	total, complete int64
}

// channel takes one pusher's updates until it is closed.
func (s *progressSum) channel() chan v1.Update {
	in := make(chan v1.Update, 16)
	go func() {
		var last v1.Update
		for u := range in {
			s.mu.Lock()
			if u.Error == nil {
				s.total += u.Total - last.Total
				s.complete += u.Complete - last.Complete
				last = u
				u = v1.Update{Total: s.total, Complete: s.complete}
			}
			s.out <- u
			s.mu.Unlock()
		}
	}()
	return in
}
