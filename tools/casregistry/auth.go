package casregistry

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/rules-img/rules_img/tools/serve"
)

// Auth holds the credentials the registry takes: bearer tokens and
// htpasswd users (bcrypt, as distribution's htpasswd). Every user may read
// and write every repository; the registry has no per-repository rights.
type Auth struct {
	tokens *serve.Tokens
	users  map[string][]byte // user -> bcrypt hash

	// bcrypt costs tens of milliseconds by design: good passwords are
	// remembered (by their sha256) so that a push of many blobs pays once,
	// and at most bcryptSlots comparisons run at a time, so that guesses
	// cannot take every core.
	mu       sync.Mutex
	verified map[[sha256.Size]byte]string
	slots    chan struct{}
}

const (
	// maxVerified bounds the remembered passwords; the memory is forgotten
	// when full.
	maxVerified = 1024
	bcryptSlots = 2
)

// ReadAuth reads a tokens file and an htpasswd file; either may be "".
//
// A tokens file has one token a line, alone or after a name and a space
// ("ci-push 3f9a..."); the name is what the log shows. Lines starting with
// # are comments. Clients send a token as "Authorization: Bearer TOKEN",
// or as the password of Basic authentication with any user name (skopeo
// --creds ci:TOKEN; crane and Docker with "registrytoken" in config.json).
//
// An htpasswd file has "user:hash" lines with bcrypt hashes ($2y$, as
// `htpasswd -B` writes), as distribution's htpasswd authentication takes.
func ReadAuth(tokensFile, htpasswdFile string) (*Auth, error) {
	a := &Auth{users: map[string][]byte{}, verified: map[[sha256.Size]byte]string{}, slots: make(chan struct{}, bcryptSlots)}
	if tokensFile != "" {
		tokens, err := serve.LoadTokens(tokensFile)
		if err != nil {
			return nil, err
		}
		a.tokens = tokens
	}
	if htpasswdFile != "" {
		err := readLines(htpasswdFile, func(line string) error {
			user, hash, ok := strings.Cut(line, ":")
			if !ok || user == "" {
				return fmt.Errorf("want user:bcrypt-hash")
			}
			if _, err := bcrypt.Cost([]byte(hash)); err != nil {
				return fmt.Errorf("user %s: only bcrypt hashes are taken (htpasswd -B): %v", user, err)
			}
			a.users[user] = []byte(hash)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if a.tokens == nil && len(a.users) == 0 {
		return nil, fmt.Errorf("no credentials in %q or %q: an empty file would lock everyone out", tokensFile, htpasswdFile)
	}
	return a, nil
}

func readLines(path string, take func(line string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := take(line); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	return sc.Err()
}

// authenticate returns the user r's credentials name. present is false
// when r carries none (an empty user and password count as none, as some
// clients send them to anonymous registries).
func (a *Auth) authenticate(r *http.Request) (user string, present, ok bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, false
	}
	scheme, cred, _ := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	switch strings.ToLower(scheme) {
	case "bearer":
		user, ok := a.token(cred)
		return user, true, ok
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			return "", true, false
		}
		name, password, _ := strings.Cut(string(raw), ":")
		if name == "" && password == "" {
			return "", false, false
		}
		if user, ok := a.token(password); ok {
			return user, true, true
		}
		return name, true, a.password(name, password)
	}
	return "", true, false
}

// token finds a token in constant time.
func (a *Auth) token(t string) (string, bool) {
	return a.tokens.Lookup(t)
}

func (a *Auth) password(user, password string) bool {
	hash, ok := a.users[user]
	if !ok {
		return false
	}
	key := sha256.Sum256([]byte(user + "\x00" + password + "\x00" + string(hash)))
	a.mu.Lock()
	_, known := a.verified[key]
	a.mu.Unlock()
	if known {
		return true
	}
	a.slots <- struct{}{}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	<-a.slots
	if err != nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.verified) >= maxVerified {
		clear(a.verified)
	}
	a.verified[key] = user
	return true
}

// challenge is the WWW-Authenticate answer, as distribution's htpasswd
// authentication gives it: Basic, which clients answer with a user and a
// password or token (a Bearer challenge would send them to a token server).
const challenge = `Basic realm="cas-registry"`

func unauthorized(format string, args ...any) *apiError {
	return newError(http.StatusUnauthorized, "UNAUTHORIZED", format, args...)
}
