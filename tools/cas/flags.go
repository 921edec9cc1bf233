package cas

import (
	"flag"
	"fmt"
	"strings"
)

// RegisterFlags adds Bazel's cache flags (--remote_cache,
// --remote_instance_name, --credential_helper, --tls_certificate,
// --remote_header) to fs, for servers that read a cache. c's current values,
// such as those of ConfigFromEnv, are the defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	if c.Headers == nil {
		c.Headers = map[string]string{}
	}
	fs.StringVar(&c.URL, "remote_cache", c.URL, "the cache, as Bazel's --remote_cache (grpc://, grpcs://, unix:, http://, https://); default $"+EndpointEnv)
	fs.StringVar(&c.InstanceName, "remote_instance_name", c.InstanceName, "REAPI instance name; default $"+InstanceNameEnv)
	fs.StringVar(&c.CredentialHelper, "credential_helper", c.CredentialHelper, "credential helper for the cache, as Bazel's; default $"+CredentialHelperEnv)
	fs.StringVar(&c.TLSCertificate, "tls_certificate", c.TLSCertificate, "PEM file of CAs to trust for the cache; default $"+TLSCertificateEnv)
	fs.Var(headerFlag(c.Headers), "remote_header", "Name=Value header for the cache (repeatable)")
}

type headerFlag map[string]string

func (h headerFlag) String() string { return fmt.Sprint(len(h), " headers") }

func (h headerFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("--remote_header %q: want Name=Value", v)
	}
	h[k] = val
	return nil
}
