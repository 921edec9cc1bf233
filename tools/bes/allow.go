package bes

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// AllowList is where the server pushes (--allow_push, repeated): entries
// REGISTRY or REGISTRY/REPOSITORY-PREFIX. A prefix matches whole path
// components: registry.example.com/team allows team and team/app, not
// teamwork. An empty list allows no push.
type AllowList []allowed

type allowed struct{ registry, prefix string }

// String is the list as flags would give it.
func (a *AllowList) String() string {
	if a == nil {
		return ""
	}
	var out []string
	for _, e := range *a {
		out = append(out, strings.TrimSuffix(e.registry+"/"+e.prefix, "/"))
	}
	return strings.Join(out, ",")
}

// Set adds an entry (flag.Value).
func (a *AllowList) Set(entry string) error {
	entry = strings.TrimSuffix(strings.TrimSpace(entry), "/")
	if !strings.Contains(entry, "/") {
		r, err := name.NewRegistry(entry)
		if err != nil || entry == "" {
			return fmt.Errorf("--allow_push %q: want REGISTRY or REGISTRY/REPOSITORY-PREFIX", entry)
		}
		*a = append(*a, allowed{registry: r.RegistryStr()})
		return nil
	}
	r, err := parseRepository(entry)
	if err != nil {
		return fmt.Errorf("--allow_push %q: want REGISTRY or REGISTRY/REPOSITORY-PREFIX: %w", entry, err)
	}
	*a = append(*a, allowed{registry: r.RegistryStr(), prefix: r.RepositoryStr()})
	return nil
}

// Check says why the server does not push to registry/repository, or nil.
func (a AllowList) Check(registry, repository string) error {
	if len(a) == 0 {
		return fmt.Errorf("the server allows no push: start it with --allow_push %s/%s (or a prefix of it) to push there", registry, repository)
	}
	r, err := parseRepository(registry + "/" + repository)
	if err != nil {
		return fmt.Errorf("%s/%s is not a valid repository: %w", registry, repository, err)
	}
	for _, e := range a {
		if r.RegistryStr() != e.registry {
			continue
		}
		if e.prefix == "" || r.RepositoryStr() == e.prefix || strings.HasPrefix(r.RepositoryStr(), e.prefix+"/") {
			return nil
		}
	}
	return fmt.Errorf("%s is not on the server's allow-list (--allow_push %s): not pushed", r.Name(), a.String())
}

// component is a path component of a repository name, as the
// distribution spec has it: no ".", "..", nor empty component, which a
// registry could clean into another repository.
var component = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// parseRepository parses REGISTRY/REPOSITORY strictly.
func parseRepository(s string) (name.Repository, error) {
	r, err := name.NewRepository(s)
	if err != nil {
		return r, err
	}
	_, path, _ := strings.Cut(s, "/")
	for _, c := range strings.Split(path, "/") {
		if !component.MatchString(c) {
			return r, fmt.Errorf("path component %q is not [a-z0-9] words joined by ., _, __ or -", c)
		}
	}
	return r, nil
}
