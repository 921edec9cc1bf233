package release

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Builder compiles the img tool from a source tree for one platform.
type Builder interface {
	Build(ctx context.Context, srcDir string, p Platform, out string) error
}

// GoBuilder runs `go build` of ./tools/cmd/img: CGO off, paths trimmed, no
// VCS stamp and no build id, so the same sources give the same binary on
// any machine with the same Go release.
type GoBuilder struct {
	// Go is the go command; empty means "go" on PATH.
	Go string
	// Version is set as the tool's version (`img version`).
	Version string
}

// Build implements Builder.
func (b GoBuilder) Build(ctx context.Context, srcDir string, p Platform, out string) error {
	goCmd := b.Go
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(ctx, goCmd, "build",
		"-trimpath", "-buildvcs=false", "-mod=readonly",
		"-ldflags=-s -w -buildid= -X main.version="+b.Version,
		"-o", out, "./tools/cmd/img")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch,
		"GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=",
		// Each GOARCH's default microarchitecture level, not the builder's.
		"GOAMD64=", "GOARM64=")
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s: %v\n%s", p, err, strings.TrimSpace(output.String()))
	}
	return nil
}
