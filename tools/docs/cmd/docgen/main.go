// Command docgen writes and checks the generated parts of docs/ (see
// tools/docs/update.sh):
//
//	docgen settings BUILD_FILE QUERY_OUTPUT  settings reference, to stdout
//	docgen snippets [--write] REPO_ROOT      snippets in docs against e2e
//	docgen links REPO_ROOT                   relative links and anchors in docs
package main

import (
	"fmt"
	"os"

	"github.com/rules-img/rules_img/tools/docs"
)

const usage = "usage: docgen settings BUILD_FILE QUERY_OUTPUT | docgen snippets [--write] REPO_ROOT | docgen links REPO_ROOT"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "docgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", usage)
	}
	switch args[0] {
	case "settings":
		if len(args) != 3 {
			return fmt.Errorf("%s", usage)
		}
		src, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		query, err := os.ReadFile(args[2])
		if err != nil {
			return err
		}
		out, err := docs.Settings(args[1], src, query)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(out)
		return err
	case "snippets":
		write := len(args) == 3 && args[1] == "--write"
		if len(args) != 2 && !write {
			return fmt.Errorf("%s", usage)
		}
		return docs.CheckSnippets(args[len(args)-1], write, os.Stdout)
	case "links":
		if len(args) != 2 {
			return fmt.Errorf("%s", usage)
		}
		return docs.CheckLinks(args[1], os.Stdout)
	}
	return fmt.Errorf("unknown command %q; %s", args[0], usage)
}
