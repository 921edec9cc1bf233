// Package docs generates and checks the parts of docs/ that come from the
// source: the settings reference and the snippets taken from e2e workspaces.
package docs

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/bazelbuild/buildtools/build"
)

// Settings renders the settings reference. src is the BUILD file that
// declares the settings, read for the comment above each target (its
// description). query is `bazel query --output=build` of that package, read
// for the evaluated attributes: defaults and accepted values. Every setting
// needs a comment: one without fails, naming it.
func Settings(srcName string, src []byte, query []byte) ([]byte, error) {
	srcFile, err := build.ParseBuild(srcName, src)
	if err != nil {
		return nil, err
	}
	evaluated, err := build.ParseBuild("query output", query)
	if err != nil {
		return nil, fmt.Errorf("reading the query output: %w", err)
	}
	byName := map[string]*build.Rule{}
	for _, r := range evaluated.Rules("") {
		byName[r.ExplicitName()] = r
	}
	pkg := "//" + strings.TrimSuffix(strings.TrimSuffix(srcName, "/BUILD.bazel"), "/BUILD")

	var b bytes.Buffer
	fmt.Fprintf(&b, "<!-- Generated from %s by tools/docs/update.sh: do not edit. -->\n\n", srcName)
	b.WriteString("# Settings\n\n")
	b.WriteString("Build settings of rules_img, set on the command line or in `.bazelrc`:\n")
	fmt.Fprintf(&b, "`--@rules_img%s:NAME=VALUE`. A rule attribute of the same name, where there\n", pkg)
	b.WriteString("is one, wins over the setting for that target.\n\n")
	b.WriteString("| Setting | Default | Accepted values |\n| :--- | :--- | :--- |\n")
	var sections bytes.Buffer
	n := 0
	for _, r := range srcFile.Rules("") {
		name := r.ExplicitName()
		if name == "" {
			continue
		}
		ev, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("%s: %s is not in the query output: run tools/docs/update.sh again", srcName, name)
		}
		if ev.Attr("build_setting_default") == nil {
			continue // not a setting
		}
		doc := commentText(r.Call.Comments.Before)
		if doc == "" {
			return nil, fmt.Errorf("%s: setting %q has no comment above it: describe it there (what it does, its values, its default)", srcName, name)
		}
		def := literal(ev.Attr("build_setting_default"))
		values := "any"
		if vs := ev.AttrStrings("values"); len(vs) > 0 {
			values = "`" + strings.Join(vs, "`, `") + "`"
			if ev.AttrLiteral("positive_ints") == "True" {
				values += ", or a positive number"
			}
		}
		fmt.Fprintf(&b, "| [`%s`](#%s) | `%s` | %s |\n", name, name, def, values)
		fmt.Fprintf(&sections, "<a id=\"%s\"></a>\n\n## %s\n\n", name, name)
		fmt.Fprintf(&sections, "`--@rules_img%s:%s`, default `%s`.\n\n%s\n\n", pkg, name, def, doc)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: no settings found", srcName)
	}
	b.WriteString("\n")
	b.Write(bytes.TrimRight(sections.Bytes(), "\n"))
	b.WriteString("\n")
	return b.Bytes(), nil
}

// commentText joins comment lines into paragraphs, without the "#".
func commentText(comments []build.Comment) string {
	var lines []string
	for _, c := range comments {
		lines = append(lines, strings.TrimSpace(strings.TrimPrefix(c.Token, "#")))
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// literal is an expression as written: a string without quotes, anything
// else in Starlark syntax.
func literal(e build.Expr) string {
	if s, ok := e.(*build.StringExpr); ok {
		return s.Value
	}
	return build.FormatString(e)
}
