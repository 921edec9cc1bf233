package main

import (
	"flag"
	"fmt"
	"strings"
)

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// requireFlags fails when any named string flag is empty.
func requireFlags(fs *flag.FlagSet, names ...string) error {
	for _, name := range names {
		if fs.Lookup(name).Value.String() == "" {
			return fmt.Errorf("missing --%s", name)
		}
	}
	return nil
}

// parseAnnotations turns the values of a repeated --NAME KEY=VALUE flag into
// a map. The key ends at the first '='; the value may hold more.
func parseAnnotations(name string, values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	ann := make(map[string]string, len(values))
	for _, kv := range values {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q is not KEY=VALUE: give a non-empty key before the first '='", name, kv)
		}
		if prev, dup := ann[k]; dup {
			return nil, fmt.Errorf("--%s gives %q twice (%q and %q): give each key once", name, k, prev, v)
		}
		ann[k] = v
	}
	return ann, nil
}
