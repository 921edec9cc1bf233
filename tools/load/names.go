package load

import (
	"fmt"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
)

// Names turns tags such as "app:dev" into the full image names that
// containerd and Docker's containerd image store keep
// ("docker.io/library/app:dev"), as Docker itself spells them.
func Names(tags []string) ([]string, error) {
	if len(tags) == 0 {
		return nil, fmt.Errorf("no tag to load the image as: set tag, tag_list or tag_file on the rule, or pass --tag NAME:TAG")
	}
	var names []string
	seen := map[string]bool{}
	for _, tag := range tags {
		ref, err := reference.ParseDockerRef(tag)
		if err != nil {
			return nil, fmt.Errorf("tag %q is not an image name: %w (write name:tag, such as my-app:dev or localhost/team/app:dev)", tag, err)
		}
		if _, ok := ref.(reference.Digested); ok {
			return nil, fmt.Errorf("tag %q names a digest: write name:tag, the digest is the image's own", tag)
		}
		if !seen[ref.String()] {
			seen[ref.String()] = true
			names = append(names, ref.String())
		}
	}
	return names, nil
}

// Familiar is a full name as Docker prints it: "app:dev" for
// "docker.io/library/app:dev".
func Familiar(name string) string {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return name
	}
	return reference.FamiliarString(ref)
}

func digestOf(h v1.Hash) digest.Digest { return digest.Digest(h.String()) }
