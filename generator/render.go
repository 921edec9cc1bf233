package generator

import (
	"fmt"
	"sort"

	"github.com/bazelbuild/buildtools/build"

	"github.com/rules-img/rules_img/templates"
)

// buildFile collects the statements of one BUILD file, rendered from
// templates; load statements are merged so each module is loaded once.
type buildFile struct {
	loads map[string]*build.LoadStmt
	stmts []build.Expr
}

func newBuildFile() *buildFile { return &buildFile{loads: map[string]*build.LoadStmt{}} }

// add renders a template with the given values for its placeholders.
func (f *buildFile) add(name string, values map[string]build.Expr) error {
	data, err := templates.FS.ReadFile(name + ".BUILD.tmpl")
	if err != nil {
		return err
	}
	parsed, err := build.ParseBuild(name, data)
	if err != nil {
		return fmt.Errorf("template %s: %w", name, err)
	}
	used := map[string]bool{}
	var missing []string
	for _, stmt := range parsed.Stmt {
		stmt = build.Edit(stmt, func(x build.Expr, _ []build.Expr) build.Expr {
			ident, ok := x.(*build.Ident)
			if !ok || !isPlaceholder(ident.Name) {
				return nil
			}
			value, ok := values[ident.Name]
			if !ok {
				missing = append(missing, ident.Name)
				return nil
			}
			used[ident.Name] = true
			return value
		})
		if load, ok := stmt.(*build.LoadStmt); ok {
			f.mergeLoad(load)
			continue
		}
		f.stmts = append(f.stmts, stmt)
	}
	if len(missing) > 0 {
		return fmt.Errorf("template %s: no value for %v", name, missing)
	}
	for key := range values {
		if !used[key] {
			return fmt.Errorf("template %s has no placeholder %s", name, key)
		}
	}
	return nil
}

func (f *buildFile) mergeLoad(load *build.LoadStmt) {
	prev, ok := f.loads[load.Module.Value]
	if !ok {
		f.loads[load.Module.Value] = load
		return
	}
	have := map[string]bool{}
	for _, to := range prev.To {
		have[to.Name] = true
	}
	for i, to := range load.To {
		if !have[to.Name] {
			prev.To = append(prev.To, to)
			prev.From = append(prev.From, load.From[i])
		}
	}
}

// format prints the file in buildifier's canonical form.
func (f *buildFile) format() string {
	var modules []string
	for m := range f.loads {
		modules = append(modules, m)
	}
	sort.Strings(modules)
	var stmts []build.Expr
	for _, m := range modules {
		stmts = append(stmts, f.loads[m])
	}
	stmts = append(stmts, f.stmts...)
	return string(build.Format(&build.File{Type: build.TypeBuild, Stmt: stmts}))
}

// isPlaceholder: template placeholders are upper-case identifiers with at
// least two letters (True/False/None are never upper case).
func isPlaceholder(name string) bool {
	if len(name) < 2 {
		return false
	}
	for _, r := range name {
		if !(r >= 'A' && r <= 'Z' || r == '_' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func str(s string) build.Expr { return &build.StringExpr{Value: s} }

func strList(ss []string) build.Expr {
	list := &build.ListExpr{}
	for _, s := range ss {
		list.List = append(list.List, str(s))
	}
	list.ForceMultiLine = len(ss) > 1
	return list
}

func strDict(keys []string, values map[string]string) build.Expr {
	dict := &build.DictExpr{ForceMultiLine: true}
	for _, k := range keys {
		dict.List = append(dict.List, &build.KeyValueExpr{Key: str(k), Value: str(values[k])})
	}
	return dict
}
