package release

import (
	"fmt"

	"github.com/bazelbuild/buildtools/build"
)

// StampModuleVersion sets `version` in the module() call of a MODULE.bazel
// file, and leaves the rest of it as it is (formatted by buildifier).
func StampModuleVersion(data []byte, version string) ([]byte, error) {
	f, err := build.ParseModule("MODULE.bazel", data)
	if err != nil {
		return nil, err
	}
	for _, stmt := range f.Stmt {
		call, ok := stmt.(*build.CallExpr)
		if !ok {
			continue
		}
		if fn, ok := call.X.(*build.Ident); !ok || fn.Name != "module" {
			continue
		}
		value := &build.StringExpr{Value: version}
		for _, arg := range call.List {
			if assign, ok := arg.(*build.AssignExpr); ok {
				if key, ok := assign.LHS.(*build.Ident); ok && key.Name == "version" {
					assign.RHS = value
					return build.Format(f), nil
				}
			}
		}
		call.List = append(call.List, &build.AssignExpr{LHS: &build.Ident{Name: "version"}, Op: "=", RHS: value})
		return build.Format(f), nil
	}
	return nil, fmt.Errorf("MODULE.bazel has no module() call to stamp version %q into", version)
}
