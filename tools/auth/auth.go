// Package auth finds registry credentials: Docker's config.json (auths,
// credsStore, credHelpers) and Bazel's credential-helper protocol. Tokens
// from WWW-Authenticate challenges are handled by go-containerregistry's
// transport, for any registry.
//
// Credentials never leave this package except inside the HTTP requests that
// go-containerregistry makes: nothing here logs or formats them.
package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// CredentialHelperEnv names a Bazel credential helper (an executable) to ask
// before Docker's configuration.
const CredentialHelperEnv = "IMG_CREDENTIAL_HELPER"

// Keychain returns the keychain rules_img uses: the credential helper named
// by IMG_CREDENTIAL_HELPER, if set, then Docker's configuration.
func Keychain() authn.Keychain {
	if helper := os.Getenv(CredentialHelperEnv); helper != "" {
		return authn.NewMultiKeychain(BazelHelper{Path: helper}, authn.DefaultKeychain)
	}
	return authn.DefaultKeychain
}

// BazelHelper asks a credential helper that speaks Bazel's protocol: `helper
// get` reads {"uri": ...} and answers {"headers": {"Authorization": [...]}}.
type BazelHelper struct {
	Path string
}

// Resolve implements authn.Keychain.
func (h BazelHelper) Resolve(target authn.Resource) (authn.Authenticator, error) {
	return h.ResolveContext(context.Background(), target)
}

// ResolveContext implements authn.ContextKeychain.
func (h BazelHelper) ResolveContext(ctx context.Context, target authn.Resource) (authn.Authenticator, error) {
	headers, err := h.Headers(ctx, "https://"+target.RegistryStr()+"/v2/")
	if err != nil {
		return nil, err
	}
	for key, values := range headers {
		if strings.EqualFold(key, "Authorization") && len(values) > 0 {
			return fromAuthorization(values[0], h.Path)
		}
	}
	return authn.Anonymous, nil
}

// Headers asks the helper for the headers to send to uri. Errors name the
// helper and the uri's host, never what the helper printed on stdout.
func (h BazelHelper) Headers(ctx context.Context, uri string) (map[string][]string, error) {
	host := uri
	if u, err := url.Parse(uri); err == nil && u.Host != "" {
		host = u.Host
	}
	request, err := json.Marshal(map[string]string{"uri": uri})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, h.Path, "get")
	cmd.Stdin = bytes.NewReader(request)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// stderr is the helper's own message; stdout may hold secrets.
		return nil, fmt.Errorf("credential helper %s for %s: %w: %s", h.Path, host, err, strings.TrimSpace(stderr.String()))
	}
	var response struct {
		Headers map[string][]string `json:"headers"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &response); err != nil {
		return nil, fmt.Errorf("credential helper %s for %s: its answer is not the expected JSON", h.Path, host)
	}
	return response.Headers, nil
}

// fromAuthorization turns an Authorization header into an authenticator.
func fromAuthorization(header, helper string) (authn.Authenticator, error) {
	scheme, value, found := strings.Cut(header, " ")
	if !found {
		// A bare value is likely the secret itself: never quote it.
		return nil, fmt.Errorf("credential helper %s answered an Authorization header with no scheme; use Basic or Bearer", helper)
	}
	switch strings.ToLower(scheme) {
	case "basic":
		return authn.FromConfig(authn.AuthConfig{Auth: value}), nil
	case "bearer":
		return authn.FromConfig(authn.AuthConfig{RegistryToken: value}), nil
	}
	return nil, fmt.Errorf("credential helper %s answered an Authorization header of scheme %q; use Basic or Bearer", helper, scheme)
}
