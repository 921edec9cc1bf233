// Command hello prints a greeting read from its runfiles, proving that the
// image lays out runfiles where the Go runfiles library looks for them.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/bazelbuild/rules_go/go/runfiles"
)

// messagePath is the runfiles path of message.txt, set by x_defs: under
// WORKSPACE the main repository's runfiles directory is its workspace name.
var messagePath = "_main/message.txt"

func main() {
	path, err := runfiles.Rlocation(messagePath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello: runfiles:", err)
		os.Exit(1)
	}
	message, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
	fmt.Printf("%s (GREETING_FROM=%s)\n", strings.TrimSpace(string(message)), os.Getenv("GREETING_FROM"))
}
