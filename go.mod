module github.com/rules-img/rules_img

go 1.26.0

require (
	github.com/bazelbuild/rules_go v0.65.0
	github.com/klauspost/compress v1.20.4
	github.com/klauspost/pgzip v1.3.0
	github.com/opencontainers/go-digest v1.0.0
	github.com/opencontainers/image-spec v1.1.1
)

require (
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/google/go-containerregistry v0.22.1
	golang.org/x/sync v0.23.0 // indirect
)
