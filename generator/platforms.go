package generator

import (
	"fmt"
	"strings"
)

var osConstraints = map[string]string{
	"linux":   "@platforms//os:linux",
	"windows": "@platforms//os:windows",
	"darwin":  "@platforms//os:macos",
	"freebsd": "@platforms//os:freebsd",
}

// cpuConstraints maps "arch" or "arch/variant" to a Bazel cpu constraint.
var cpuConstraints = map[string]string{
	"amd64":    "@platforms//cpu:x86_64",
	"arm64":    "@platforms//cpu:aarch64",
	"arm64/v8": "@platforms//cpu:aarch64",
	"arm":      "@platforms//cpu:arm",
	"arm/v6":   "@platforms//cpu:arm",
	"arm/v7":   "@platforms//cpu:armv7",
	"386":      "@platforms//cpu:x86_32",
	"ppc64le":  "@platforms//cpu:ppc64le",
	"s390x":    "@platforms//cpu:s390x",
	"riscv64":  "@platforms//cpu:riscv64",
	"mips64":   "@platforms//cpu:mips64",
	"loong64":  "@platforms//cpu:loongarch64",
}

// Constraints maps an OCI platform "os/arch[/variant]" to the Bazel
// constraint values that select it.
func Constraints(platform string) ([]string, error) {
	osName, arch, ok := strings.Cut(platform, "/")
	osc, okOS := osConstraints[osName]
	cpu, okCPU := cpuConstraints[arch]
	if !ok || !okOS || !okCPU {
		return nil, fmt.Errorf("unknown platform %q: use os/arch[/variant] with os in linux, windows, darwin, freebsd and arch such as amd64, arm64, arm/v7", platform)
	}
	return []string{osc, cpu}, nil
}

// targetName turns "linux/arm64/v8" into "linux_arm64_v8".
func targetName(platform string) string {
	return strings.ReplaceAll(platform, "/", "_")
}
