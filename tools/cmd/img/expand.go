package main

import (
	"flag"
	"fmt"

	"github.com/rules-img/rules_img/tools/expand"
	"github.com/rules-img/rules_img/tools/stamp"
)

// runExpand expands the templates of a request into a JSON file that the
// manifest, index, push and load steps read.
func runExpand(args []string) error {
	fs := flag.NewFlagSet("expand", flag.ContinueOnError)
	request := fs.String("request", "", `JSON {"label", "data", "templates", "build_settings", "drop_empty"}`)
	out := fs.String("out", "", "output: data's fields and the expanded templates, as JSON")
	var status listFlag
	fs.Var(&status, "status", "workspace status file, stable-status.txt then volatile-status.txt (repeated; later ones win; none when not stamping)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "request", "out"); err != nil {
		return err
	}
	req, err := expand.ReadRequest(*request)
	if err != nil {
		return err
	}
	vars, err := stamp.ReadStatus(status...)
	if err != nil {
		return fmt.Errorf("%s: workspace status: %w", req.Label, err)
	}
	res, err := expand.Run(req, vars)
	if err != nil {
		return err
	}
	return expand.Write(*out, res)
}
