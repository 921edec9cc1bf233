package bes

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/rules-img/rules_img/tools/serve"
)

// Authenticator admits an RPC whose caller sent one of Tokens as a bearer
// token (Bazel: --bes_header=Authorization=Bearer TOKEN), or presented a
// client certificate that the TLS handshake verified (ClientCerts: the
// server has a --client_ca). Every RPC is checked, before the service sees
// it.
type Authenticator struct {
	Tokens      *serve.Tokens
	ClientCerts bool
}

// ServerOptions are the interceptors that check every RPC.
func (a Authenticator) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := a.check(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := a.check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
}

func (a Authenticator) check(ctx context.Context) error {
	if a.ClientCerts {
		if p, ok := peer.FromContext(ctx); ok {
			if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.VerifiedChains) > 0 {
				return nil
			}
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) == 0 {
		return status.Error(codes.Unauthenticated, "no credentials: send a bearer token (bazel --bes_header=Authorization=\"Bearer TOKEN\") or a client certificate")
	}
	for _, v := range values {
		if token, ok := serve.BearerToken(v); ok && a.Tokens.Valid(token) {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "the credentials are not valid: the Authorization header must be \"Bearer TOKEN\" with a token of the server's --tokens_file")
}
