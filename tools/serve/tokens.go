package serve

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"os"
	"strings"
)

// Tokens are the bearer tokens a server accepts, each with a name for logs.
type Tokens struct {
	// sums are the tokens' sha256 sums: every check compares sums of the
	// same length, all of them, so that its time tells nothing of a token.
	sums  [][sha256.Size]byte
	names []string
}

// LoadTokens reads a tokens file (--tokens_file): one token a line, alone
// or after a name and a space ("ci-push 3f9a…", the name for people; the
// format of cas-registry's tokens file); blank lines and lines that start
// with # are skipped.
func LoadTokens(path string) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--tokens_file: %w", err)
	}
	t := &Tokens{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		name := fmt.Sprintf("token-%d", len(t.sums)+1)
		switch len(fields) {
		case 1:
		case 2:
			name = fields[0]
		default:
			return nil, fmt.Errorf("--tokens_file %s: a line holds TOKEN or NAME TOKEN, not %d fields", path, len(fields))
		}
		t.sums = append(t.sums, sha256.Sum256([]byte(fields[len(fields)-1])))
		t.names = append(t.names, name)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--tokens_file %s: %w", path, err)
	}
	if len(t.sums) == 0 {
		return nil, fmt.Errorf("--tokens_file %s holds no token", path)
	}
	return t, nil
}

// Valid reports whether token is one of t, in time that does not depend on
// which token, or how much of it, matched.
func (t *Tokens) Valid(token string) bool {
	_, ok := t.Lookup(token)
	return ok
}

// Lookup is the name of token, if it is one of t; in time that does not
// depend on which token, or how much of it, matched.
func (t *Tokens) Lookup(token string) (string, bool) {
	if t == nil || token == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.sums {
		if subtle.ConstantTimeCompare(sum[:], t.sums[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return t.names[found], true
}

// BearerToken is the token of an Authorization header value
// ("Bearer TOKEN"; the scheme in any case).
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// CheckExposure refuses to serve anyone who can reach a non-loopback addr
// without authentication, unless allowUnauthenticated (the flag
// --allow_unauthenticated) says so; authFlags names the flags that add
// authentication, for the message.
func CheckExposure(addr string, authenticated, allowUnauthenticated bool, authFlags string) error {
	if authenticated || allowUnauthenticated {
		return nil
	}
	if Loopback(addr) {
		return nil
	}
	return fmt.Errorf("refusing to serve on %s without authentication: it is not a loopback address, so anyone who can reach it could use the server. "+
		"Add %s, or --allow_unauthenticated to serve everyone on purpose", addr, authFlags)
}

// Loopback reports whether addr (host:port) listens on loopback
// interfaces only. An empty host is every interface; a name is resolved.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}
