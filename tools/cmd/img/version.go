package main

import (
	"fmt"
	"runtime"
)

// version is set by the release build (tools/cmd/release); source builds
// say "dev".
var version = "dev"

func runVersion(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("takes no arguments")
	}
	fmt.Printf("img %s %s/%s\n", version, runtime.GOOS, runtime.GOARCH)
	return nil
}
