package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rules-img/rules_img/tools/attest"
	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/deploy"
	"github.com/rules-img/rules_img/tools/index"
	"github.com/rules-img/rules_img/tools/push"
)

// signFlags are the run-time signing flags of push and deploy: keys come
// here, never through the build.
type signFlags struct {
	sign                       bool
	key, command, publicKey    string
	notationKey, notationChain string
}

func (f *signFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.sign, "sign", false, "sign the pushed images; fails before pushing unless --sign_key or --sign_command is given")
	fs.StringVar(&f.key, "sign_key", "", "cosign private key (cosign generate-key-pair); its password in $COSIGN_PASSWORD")
	fs.StringVar(&f.command, "sign_command", "", "program that signs what it reads on standard input (ASN.1 ECDSA P-256 over SHA-256, raw or base64, on standard output); with --sign_public_key")
	fs.StringVar(&f.publicKey, "sign_public_key", "", "public key (PEM) of --sign_command's signatures")
	fs.StringVar(&f.notationKey, "notation_key", "", "private key (PEM) of a notation signature; with --notation_cert")
	fs.StringVar(&f.notationChain, "notation_cert", "", "certificate chain (PEM, leaf first) of --notation_key")
}

// userPath is a path as the user gave it: bazel run starts in the
// runfiles, so a relative one is from where bazel was run.
func userPath(p string) string {
	if dir := os.Getenv("BUILD_WORKING_DIRECTORY"); dir != "" && !filepath.IsAbs(p) {
		return filepath.Join(dir, p)
	}
	return p
}

// options loads the keys, before anything is pushed: a bad key or a
// missing password fails here.
func (f *signFlags) options() (attest.Options, error) {
	var o attest.Options
	switch {
	case f.key != "" && f.command != "":
		return o, errors.New("--sign_key and --sign_command: give one")
	case f.key != "":
		password, ok := os.LookupEnv("COSIGN_PASSWORD")
		if !ok {
			return o, fmt.Errorf("--sign_key %s: $COSIGN_PASSWORD is not set: export it (empty for a key without a password)", f.key)
		}
		s, err := attest.LoadCosignKey(userPath(f.key), []byte(password))
		if err != nil {
			return o, fmt.Errorf("--sign_key: %w", err)
		}
		o.Signer = s
	case f.command != "":
		if f.publicKey == "" {
			return o, errors.New("--sign_command needs --sign_public_key, the public key of its signatures")
		}
		pub, err := attest.LoadPublicKey(userPath(f.publicKey))
		if err != nil {
			return o, fmt.Errorf("--sign_public_key: %w", err)
		}
		o.Signer = attest.CommandSigner{Command: strings.Fields(f.command), Key: pub}
	case f.publicKey != "":
		return o, errors.New("--sign_public_key is for --sign_command")
	}
	if (f.notationKey == "") != (f.notationChain == "") {
		return o, errors.New("--notation_key and --notation_cert go together")
	}
	if f.notationKey != "" {
		n, err := attest.LoadNotation(userPath(f.notationKey), userPath(f.notationChain))
		if err != nil {
			return o, fmt.Errorf("--notation_key: %w", err)
		}
		o.Notation = n
	}
	if f.sign && o.Signer == nil && o.Notation == nil {
		return o, errors.New("--sign: no key: give --sign_key=cosign.key (password in $COSIGN_PASSWORD), --sign_command with --sign_public_key, or --notation_key with --notation_cert")
	}
	return o, nil
}

// attach signs what was pushed and attaches its documents: the image or
// index at ref, and each image of an index.
func attach(ctx context.Context, ref name.Digest, config push.Config, root, workspace string, o attest.Options, remoteOptions []remote.Option) error {
	if o.Signer == nil && o.Notation == nil && len(config.Attestations) == 0 {
		return nil
	}
	o.Remote = remoteOptions
	o.Log = func(s string) { fmt.Fprintln(os.Stderr, s) }
	if config.Strategy == push.CASRegistry {
		// cas-registry takes only blobs the remote cache has: the
		// documents are there (build outputs), the signatures not yet.
		store, err := cas.Dial(ctx, config.CacheConfig())
		if err != nil {
			return err
		}
		w, ok := store.(cas.Writer)
		if !ok {
			return fmt.Errorf("the remote cache %s takes no uploads, and cas-registry serves signatures from it", config.CacheConfig().URL)
		}
		o.Seed = func(ctx context.Context, data []byte) error {
			sum := sha256.Sum256(data)
			return w.Put(ctx, cas.Digest{Hash: hex.EncodeToString(sum[:]), Size: int64(len(data))}, bytes.NewReader(data))
		}
	}
	top, err := remote.Head(ref, remoteOptions...)
	if err != nil {
		return err
	}
	subjects := []attest.Subject{{Descriptor: *top}}
	if top.MediaType.IsIndex() {
		idx, err := remote.Index(ref, remoteOptions...)
		if err != nil {
			return err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range m.Manifests {
			subjects = append(subjects, attest.Subject{Descriptor: v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}})
		}
	}
	for _, a := range config.Attestations {
		for _, d := range a.Documents {
			desc, err := index.ReadDescriptor(deploy.RunfilesPath(root, workspace, d.Subject))
			if err != nil {
				return err
			}
			data, err := os.ReadFile(deploy.RunfilesPath(root, workspace, d.Document))
			if err != nil {
				return err
			}
			found := false
			for i := range subjects {
				if subjects[i].Descriptor.Digest.String() == desc.Digest.String() {
					subjects[i].Documents = append(subjects[i].Documents, attest.Document{
						PredicateType: a.PredicateType, MediaType: a.MediaType, Statement: a.Statement, Data: data,
					})
					found = true
				}
			}
			if !found {
				return fmt.Errorf("%s describes %s, which this push did not push (attestations of another image?)", d.Document, desc.Digest)
			}
		}
	}
	return attest.Attach(ctx, ref.Context(), subjects, o)
}
