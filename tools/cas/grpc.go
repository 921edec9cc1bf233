package cas

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"
	bspb "google.golang.org/genproto/googleapis/bytestream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rules-img/rules_img/tools/auth"
)

// findMissingBatch bounds a FindMissingBlobs request well below gRPC's
// default 4 MiB message limit.
const findMissingBatch = 4096

// writeChunk is the size of ByteStream.Write messages.
const writeChunk = 1 << 20

// capabilitiesTimeout bounds the first call, so that a cache that accepts
// connections but never answers fails the push rather than hanging it.
const capabilitiesTimeout = 60 * time.Second

// grpcStore is a REAPI cache.
type grpcStore struct {
	conn     *grpc.ClientConn
	cas      repb.ContentAddressableStorageClient
	bs       bspb.ByteStreamClient
	instance string
	url      string // redacted, for messages
}

// dialGRPC connects to a REAPI cache and checks that it speaks sha256.
func dialGRPC(ctx context.Context, c Config) (Store, error) {
	name := c.RedactedURL()
	target, secure, err := grpcTarget(c.URL)
	if err != nil {
		return nil, fmt.Errorf("remote cache %s: %w", name, err)
	}
	transport := insecure.NewCredentials()
	if secure {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.TLSCertificate != "" {
			pem, err := os.ReadFile(c.TLSCertificate)
			if err != nil {
				return nil, fmt.Errorf("remote cache %s: TLS certificate: %w", name, err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("remote cache %s: TLS certificate %s holds no PEM certificate", name, c.TLSCertificate)
			}
		}
		transport = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(transport),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
	}
	if len(c.Headers) > 0 || c.CredentialHelper != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(&headerCredentials{static: c.Headers, helper: c.CredentialHelper}))
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("remote cache %s: %w", name, err)
	}
	s := &grpcStore{
		conn:     conn,
		cas:      repb.NewContentAddressableStorageClient(conn),
		bs:       bspb.NewByteStreamClient(conn),
		instance: c.InstanceName,
		url:      name,
	}
	if err := s.checkCapabilities(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// grpcTarget turns a Bazel-style address into a gRPC target.
func grpcTarget(raw string) (target string, secure bool, err error) {
	switch {
	case strings.HasPrefix(raw, "grpc://"):
		target = strings.TrimPrefix(raw, "grpc://")
	case strings.HasPrefix(raw, "grpcs://"):
		target, secure = strings.TrimPrefix(raw, "grpcs://"), true
	case strings.HasPrefix(raw, "unix:"):
		// Bazel takes unix:/path and unix:///path; gRPC wants the latter.
		return "unix://" + path.Clean("/"+strings.TrimLeft(strings.TrimPrefix(raw, "unix:"), "/")), false, nil
	default:
		target, secure = raw, true
	}
	target = strings.TrimSuffix(target, "/")
	if HasCredentials(raw) {
		// gRPC has no use for user:password in the address, and it would
		// end up in messages: credentials go in headers.
		return "", false, fmt.Errorf("credentials in the address are not used over gRPC: give them with --remote_header (or $%s) or a credential helper (//img/settings:credential_helper, $%s)", HeadersEnv, CredentialHelperEnv)
	}
	if target == "" || strings.Contains(target, "/") {
		return "", false, fmt.Errorf("want HOST:PORT after the scheme, as in grpcs://cache.example.com:443")
	}
	return target, secure, nil
}

// checkCapabilities fails for a cache that cannot be reached or that does
// not list sha256 among its digest functions.
func (s *grpcStore) checkCapabilities(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, capabilitiesTimeout)
	defer cancel()
	caps, err := repb.NewCapabilitiesClient(s.conn).GetCapabilities(ctx, &repb.GetCapabilitiesRequest{InstanceName: s.instance})
	if status.Code(err) == codes.Unimplemented {
		return nil // a bare CAS; every blob read is still checked
	}
	if err != nil {
		return s.wrap("asking for its capabilities", err)
	}
	fns := caps.GetCacheCapabilities().GetDigestFunctions()
	if len(fns) == 0 {
		return nil // servers before REAPI 2.1 list none and mean sha256
	}
	var names []string
	for _, f := range fns {
		if f == repb.DigestFunction_SHA256 {
			return nil
		}
		names = append(names, f.String())
	}
	return fmt.Errorf("remote cache %s supports the digest functions %s, not SHA256; rules_img needs a cache keyed by sha256 (Bazel's --digest_function=sha256)", s.url, strings.Join(names, ", "))
}

// wrap names the cache and the operation, and says what an unreachable
// cache means.
func (s *grpcStore) wrap(op string, err error) error {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("remote cache %s is not reachable (%s): %w", s.url, op, err)
	case codes.Unauthenticated, codes.PermissionDenied:
		return fmt.Errorf("remote cache %s refused access (%s); check //img/settings:credential_helper or $%s: %w", s.url, op, CredentialHelperEnv, err)
	}
	return fmt.Errorf("remote cache %s: %s: %w", s.url, op, err)
}

func (s *grpcStore) Missing(ctx context.Context, ds []Digest) ([]Digest, error) {
	if err := validateAll(ds); err != nil {
		return nil, err
	}
	var missing []Digest
	for start := 0; start < len(ds); start += findMissingBatch {
		batch := ds[start:min(start+findMissingBatch, len(ds))]
		req := &repb.FindMissingBlobsRequest{InstanceName: s.instance, DigestFunction: repb.DigestFunction_SHA256}
		for _, d := range batch {
			req.BlobDigests = append(req.BlobDigests, &repb.Digest{Hash: d.Hash, SizeBytes: d.Size})
		}
		resp, err := s.cas.FindMissingBlobs(ctx, req)
		if err != nil {
			return nil, s.wrap("finding missing blobs", err)
		}
		for _, d := range resp.GetMissingBlobDigests() {
			missing = append(missing, Digest{Hash: d.GetHash(), Size: d.GetSizeBytes()})
		}
	}
	return missing, nil
}

// checkSizes asks FindMissingBlobs, then confirms the size of each blob
// found with two reads of at most one byte: one at d.Size-1, which must
// give a byte, and one at d.Size, which must give none. A server that
// ignores the size of a digest (many key blobs by hash) still reads the
// offsets of the blob it has.
func (s *grpcStore) checkSizes(ctx context.Context, ds []Digest) (missing, wrongSize []Digest, err error) {
	missing, err = s.Missing(ctx, ds)
	if err != nil {
		return nil, nil, err
	}
	isMissing := map[Digest]bool{}
	for _, d := range missing {
		isMissing[d] = true
	}
	for _, d := range ds {
		if isMissing[d] || d.Size == 0 {
			// Size 0 with a hash other than the empty blob's: the cache
			// said it has it, but no blob of 0 bytes has that hash.
			if !isMissing[d] {
				wrongSize = append(wrongSize, d)
			}
			continue
		}
		before, err := s.readAt(ctx, d, d.Size-1)
		if err != nil {
			return nil, nil, err
		}
		after, err := s.readAt(ctx, d, d.Size)
		if err != nil {
			return nil, nil, err
		}
		if before != 1 || after != 0 {
			wrongSize = append(wrongSize, d)
		}
	}
	return missing, wrongSize, nil
}

// readAt reads at most one byte of d at offset and returns how many came;
// 0 for an offset past the end or a blob the cache does not have at d.Size.
func (s *grpcStore) readAt(ctx context.Context, d Digest, offset int64) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.bs.Read(ctx, &bspb.ReadRequest{ResourceName: s.resource("blobs", d.Hash, fmt.Sprint(d.Size)), ReadOffset: offset, ReadLimit: 1})
	if err != nil {
		return 0, s.wrap("reading "+d.String(), err)
	}
	n := 0
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			return n, nil
		}
		switch status.Code(err) {
		case codes.OK:
		case codes.NotFound, codes.OutOfRange, codes.InvalidArgument:
			return n, nil
		default:
			return 0, s.wrap("reading "+d.String(), err)
		}
		n += len(msg.GetData())
		if n > 1 {
			// The server ignored read_limit: the answer proves nothing.
			return 2, nil
		}
	}
}

// resource is the ByteStream name of a sha256 blob.
func (s *grpcStore) resource(parts ...string) string {
	if s.instance != "" {
		parts = append([]string{s.instance}, parts...)
	}
	return strings.Join(parts, "/")
}

func (s *grpcStore) Open(ctx context.Context, d Digest) (io.ReadCloser, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if d == emptyBlob {
		// REAPI servers need not store the empty blob: every cache has it.
		return io.NopCloser(strings.NewReader("")), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := s.bs.Read(ctx, &bspb.ReadRequest{ResourceName: s.resource("blobs", d.Hash, fmt.Sprint(d.Size))})
	if err != nil {
		cancel()
		return nil, s.wrap("reading "+d.String(), err)
	}
	// The first message tells a missing blob from a present one, so that
	// Open, not the first Read, reports ErrNotFound.
	first, err := stream.Recv()
	if err != nil && err != io.EOF {
		cancel()
		if status.Code(err) == codes.NotFound {
			return nil, fmt.Errorf("blob %s in %s: %w", d, s.url, ErrNotFound)
		}
		return nil, s.wrap("reading "+d.String(), err)
	}
	r := &streamReader{stream: stream, cancel: cancel, store: s, digest: d, eof: err == io.EOF}
	r.buf = first.GetData()
	return verified(r, d, s.url), nil
}

// streamReader turns ByteStream.Read messages into an io.Reader.
type streamReader struct {
	stream bspb.ByteStream_ReadClient
	cancel context.CancelFunc
	store  *grpcStore
	digest Digest
	buf    []byte
	eof    bool
}

func (r *streamReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		msg, err := r.stream.Recv()
		if err == io.EOF {
			r.eof = true
			continue
		}
		if err != nil {
			return 0, r.store.wrap("reading "+r.digest.String(), err)
		}
		r.buf = msg.GetData()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *streamReader) Close() error {
	r.cancel()
	return nil
}

// Put uploads a blob with ByteStream.Write.
func (s *grpcStore) Put(ctx context.Context, d Digest, r io.Reader) error {
	if err := d.Validate(); err != nil {
		return err
	}
	var id [16]byte
	rand.Read(id[:])
	uuid := hex.EncodeToString(id[:])
	uuid = uuid[:8] + "-" + uuid[8:12] + "-" + uuid[12:16] + "-" + uuid[16:20] + "-" + uuid[20:]
	stream, err := s.bs.Write(ctx)
	if err != nil {
		return s.wrap("writing "+d.String(), err)
	}
	name := s.resource("uploads", uuid, "blobs", d.Hash, fmt.Sprint(d.Size))
	buf := make([]byte, writeChunk)
	var offset int64
	for {
		n, rerr := io.ReadFull(r, buf)
		if rerr != nil && rerr != io.EOF && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			stream.CloseSend()
			return rerr
		}
		last := rerr != nil || offset+int64(n) == d.Size
		req := &bspb.WriteRequest{WriteOffset: offset, Data: buf[:n], FinishWrite: last}
		if offset == 0 {
			req.ResourceName = name
		}
		if err := stream.Send(req); err != nil {
			if err == io.EOF {
				break // the server already has the blob and closed the stream
			}
			return s.wrap("writing "+d.String(), err)
		}
		offset += int64(n)
		if last {
			break
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return s.wrap("writing "+d.String(), err)
	}
	if resp.GetCommittedSize() != d.Size && resp.GetCommittedSize() != -1 {
		return fmt.Errorf("remote cache %s committed %d bytes of %s", s.url, resp.GetCommittedSize(), d)
	}
	return nil
}

// headerCredentials adds static headers and a credential helper's headers
// to each call. Helper answers are kept per URI, as Bazel keeps them.
type headerCredentials struct {
	static map[string]string
	helper string

	mu    sync.Mutex
	cache map[string]map[string][]string
}

func (h *headerCredentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	md := map[string]string{}
	for k, v := range h.static {
		md[strings.ToLower(k)] = v
	}
	if h.helper == "" || len(uri) == 0 {
		return md, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	headers, ok := h.cache[uri[0]]
	if !ok {
		var err error
		headers, err = auth.BazelHelper{Path: h.helper}.Headers(ctx, uri[0])
		if err != nil {
			return nil, err
		}
		if h.cache == nil {
			h.cache = map[string]map[string][]string{}
		}
		h.cache[uri[0]] = headers
	}
	for k, vs := range headers {
		if len(vs) > 0 {
			md[strings.ToLower(k)] = vs[0]
		}
	}
	return md, nil
}

// RequireTransportSecurity is false: grpc:// caches on a trusted network
// take headers too, as with Bazel.
func (h *headerCredentials) RequireTransportSecurity() bool { return false }

// String names the cache, for messages.
func (s *grpcStore) String() string { return s.url }
