// Package castest runs in-memory remote caches for tests: a REAPI server
// (ByteStream, ContentAddressableStorage, Capabilities) and Bazel's HTTP
// cache protocol, both on 127.0.0.1 with free ports.
package castest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Cache is an in-memory blob store that both servers serve.
type Cache struct {
	mu    sync.Mutex
	blobs map[string][]byte // by sha256 hex

	// DigestFunctions are what Capabilities answers; nil means SHA256.
	DigestFunctions []repb.DigestFunction_Value
	// Corrupt, if set, makes reads of that hash return other bytes.
	Corrupt string
	// Headers are the headers (or gRPC metadata) of the last request.
	Headers http.Header
	// Reads counts the blob reads (ByteStream.Read, GET).
	Reads int
	// IgnoreSizes makes the REAPI server find and read blobs by hash
	// alone, whatever size a digest names, as some caches do.
	IgnoreSizes bool
}

// New returns an empty cache.
func New() *Cache { return &Cache{blobs: map[string][]byte{}} }

// Add stores data and returns its sha256 hex.
func (c *Cache) Add(data []byte) string {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blobs[h] = bytes.Clone(data)
	return h
}

// Get returns a blob and whether the cache has it.
func (c *Cache) Get(hash string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.blobs[hash]
	return b, ok
}

// Delete removes a blob.
func (c *Cache) Delete(hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.blobs, hash)
}

func (c *Cache) read(hash string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Reads++
	b, ok := c.blobs[hash]
	if ok && hash == c.Corrupt && len(b) > 0 {
		b = bytes.Clone(b)
		b[len(b)/2] ^= 0xff
	}
	return b, ok
}

func (c *Cache) record(h http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Headers = h
}

// ServeGRPC serves c over REAPI on 127.0.0.1 and returns its
// grpc://127.0.0.1:PORT address; the server stops with the test.
func (c *Cache) ServeGRPC(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.ServeGRPCListener(t, lis)
	return "grpc://" + lis.Addr().String()
}

// ServeGRPCListener serves c over REAPI on lis (a unix socket, say) until
// the test ends.
func (c *Cache) ServeGRPCListener(t testing.TB, lis net.Listener) {
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		c.recordMD(ctx)
		return h(ctx, req)
	}), grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		c.recordMD(ss.Context())
		return h(srv, ss)
	}))
	repb.RegisterContentAddressableStorageServer(srv, &casServer{c: c})
	repb.RegisterCapabilitiesServer(srv, &capsServer{c: c})
	bspb.RegisterByteStreamServer(srv, &bsServer{c: c})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
}

func (c *Cache) recordMD(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	h := http.Header{}
	for k, vs := range md {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	c.record(h)
}

type capsServer struct {
	repb.UnimplementedCapabilitiesServer
	c *Cache
}

func (s *capsServer) GetCapabilities(context.Context, *repb.GetCapabilitiesRequest) (*repb.ServerCapabilities, error) {
	fns := s.c.DigestFunctions
	if fns == nil {
		fns = []repb.DigestFunction_Value{repb.DigestFunction_SHA256}
	}
	return &repb.ServerCapabilities{CacheCapabilities: &repb.CacheCapabilities{DigestFunctions: fns}}, nil
}

type casServer struct {
	repb.UnimplementedContentAddressableStorageServer
	c *Cache
}

func (s *casServer) FindMissingBlobs(_ context.Context, req *repb.FindMissingBlobsRequest) (*repb.FindMissingBlobsResponse, error) {
	resp := &repb.FindMissingBlobsResponse{}
	for _, d := range req.GetBlobDigests() {
		if b, ok := s.c.Get(d.GetHash()); !ok || !s.c.IgnoreSizes && int64(len(b)) != d.GetSizeBytes() {
			resp.MissingBlobDigests = append(resp.MissingBlobDigests, d)
		}
	}
	return resp, nil
}

type bsServer struct {
	bspb.UnimplementedByteStreamServer
	c *Cache
}

// blobName parses "[instance/]blobs/HASH/SIZE" and
// "[instance/]uploads/UUID/blobs/HASH/SIZE".
func blobName(resource string) (hash string, size int64, err error) {
	parts := strings.Split(resource, "/")
	for i := len(parts) - 3; i >= 0; i-- {
		if parts[i] == "blobs" {
			size, err = strconv.ParseInt(parts[i+2], 10, 64)
			return parts[i+1], size, err
		}
	}
	return "", 0, fmt.Errorf("resource %q names no blob", resource)
}

func (s *bsServer) Read(req *bspb.ReadRequest, stream bspb.ByteStream_ReadServer) error {
	hash, size, err := blobName(req.GetResourceName())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	b, ok := s.c.read(hash)
	if !ok || !s.c.IgnoreSizes && int64(len(b)) != size {
		return status.Errorf(codes.NotFound, "blob %s/%d not found", hash, size)
	}
	off := req.GetReadOffset()
	if off > int64(len(b)) || off < 0 {
		return status.Errorf(codes.OutOfRange, "read_offset %d of blob %s/%d", off, hash, len(b))
	}
	b = b[off:]
	if limit := req.GetReadLimit(); limit > 0 && limit < int64(len(b)) {
		b = b[:limit]
	}
	// Small chunks, so that readers see many messages.
	for len(b) > 0 {
		n := min(len(b), 1000)
		if err := stream.Send(&bspb.ReadResponse{Data: b[:n]}); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

func (s *bsServer) Write(stream bspb.ByteStream_WriteServer) error {
	var buf bytes.Buffer
	var name string
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if name == "" {
			name = req.GetResourceName()
		}
		buf.Write(req.GetData())
		if req.GetFinishWrite() {
			break
		}
	}
	hash, size, err := blobName(name)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	sum := sha256.Sum256(buf.Bytes())
	if hex.EncodeToString(sum[:]) != hash || int64(buf.Len()) != size {
		return status.Errorf(codes.InvalidArgument, "upload does not match %s/%d", hash, size)
	}
	s.c.Add(buf.Bytes())
	return stream.SendAndClose(&bspb.WriteResponse{CommittedSize: size})
}

// ServeHTTP serves c as Bazel's HTTP cache (GET, HEAD, PUT /cas/<sha256>)
// and returns its http://127.0.0.1:PORT address.
func (c *Cache) ServeHTTP(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.record(r.Header.Clone())
		hash, ok := strings.CutPrefix(r.URL.Path, "/cas/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			read := c.Get
			if r.Method == http.MethodGet {
				read = c.read
			}
			b, ok := read(hash)
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			if r.Method == http.MethodGet {
				w.Write(b)
			}
		case http.MethodPut:
			data, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			c.Add(data)
			w.WriteHeader(http.StatusCreated)
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
