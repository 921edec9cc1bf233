// Command esgzverify checks an eStargz or zstd:chunked layer blob for the
// end-to-end tests: the footer, the table of contents against TOC_DIGEST,
// every chunk, and, when given, that the blob decompresses to DIFF_ID.
//
//	esgzverify BLOB TOC_DIGEST [DIFF_ID]
package main

import (
	"fmt"
	"os"

	"github.com/rules-img/rules_img/tools/esgzverify"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "esgzverify:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 || len(args) > 3 {
		return fmt.Errorf("usage: esgzverify BLOB TOC_DIGEST [DIFF_ID]")
	}
	res, err := esgzverify.File(args[0], args[1])
	if err != nil {
		return err
	}
	if len(args) == 3 && res.DiffID != args[2] {
		return fmt.Errorf("the blob decompresses to %s, not the diff_id %s", res.DiffID, args[2])
	}
	fmt.Printf("OK: TOC %s, %d files, %d chunks verified, diff_id %s, %d bytes uncompressed\n",
		args[1], res.Files, res.Chunks, res.DiffID, res.Size)
	return nil
}
