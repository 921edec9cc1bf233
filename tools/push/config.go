package push

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/rules-img/rules_img/tools/cas"
)

// Config is what image_push writes next to the deploy spec.
type Config struct {
	// Label is the push target, for messages.
	Label      string   `json:"label,omitempty"`
	Registry   string   `json:"registry"`
	Repository string   `json:"repository"`
	Tags       []string `json:"tags"`
	// TagsFile, a runfiles short path, holds more tags, one per line (from
	// tag_file, or stamped).
	TagsFile string `json:"tags_file,omitempty"`
	// Strategy is eager, lazy, cas_registry or bes; empty means eager.
	Strategy string `json:"strategy,omitempty"`
	// RemoteCache and CredentialHelper are //img/settings:remote_cache and
	// :credential_helper; empty falls back to the environment
	// (cas.ConfigFromEnv).
	RemoteCache      string `json:"remote_cache,omitempty"`
	CredentialHelper string `json:"credential_helper,omitempty"`
	// Attestations are the documents to attach (image_push's attestations).
	Attestations []Attestation `json:"attestations,omitempty"`
}

// Attestation is one attestations target of a push: documents of one
// predicate type, one per image they describe.
type Attestation struct {
	PredicateType string `json:"predicate_type"`
	MediaType     string `json:"media_type"`
	// Statement: each document is an in-toto statement already.
	Statement bool `json:"statement,omitempty"`
	// Documents name runfiles short paths: the descriptor of the manifest
	// described, and the document.
	Documents []struct {
		Subject  string `json:"subject"`
		Document string `json:"document"`
	} `json:"documents"`
}

// ReadConfig reads a push config file.
func ReadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(data, path)
}

// ParseConfig decodes a push config; name, its file, is for messages.
func ParseConfig(data []byte, name string) (Config, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("push config %s: %w", name, err)
	}
	if c.Strategy == "" {
		c.Strategy = Eager
	}
	if err := CheckStrategy(c.Strategy); err != nil {
		return c, fmt.Errorf("push config %s: %w", name, err)
	}
	return c, nil
}

// CacheConfig is the remote cache of c: its settings, else the
// environment's.
func (c Config) CacheConfig() cas.Config {
	cc := cas.ConfigFromEnv()
	if c.RemoteCache != "" {
		cc.URL = c.RemoteCache
	}
	if c.CredentialHelper != "" {
		cc.CredentialHelper = c.CredentialHelper
	}
	return cc
}

// Cache is where the layers of c come from: nil for eager, else the remote
// cache, dialled when a blob is first needed.
func (c Config) Cache(ctx context.Context) cas.Store {
	if !FromCache(c.Strategy) {
		return nil
	}
	return cas.Lazy(ctx, c.CacheConfig())
}

// Target is where c pushes. The tags file, if any, is read with readFile
// at its short path (nil: os.ReadFile at the path resolve gives it).
func (c Config) Target(readFile func(string) ([]byte, error), resolve func(short string) string) (Target, error) {
	t := Target{Registry: c.Registry, Repository: c.Repository, Tags: append([]string(nil), c.Tags...)}
	if c.TagsFile != "" {
		path := c.TagsFile
		if resolve != nil {
			path = resolve(path)
		}
		if readFile == nil {
			readFile = os.ReadFile
		}
		data, err := readFile(path)
		if err != nil {
			return t, err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				t.Tags = append(t.Tags, line)
			}
		}
	}
	return t, nil
}
