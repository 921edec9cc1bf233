// Command hello prints the message the image carries, and the platform it
// was built for.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
)

func main() {
	message, err := os.ReadFile("/app/share/message.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
	fmt.Printf("%s (%s/%s)\n", strings.TrimSpace(string(message)), runtime.GOOS, runtime.GOARCH)
}
