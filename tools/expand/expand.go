// Package expand expands the templated attributes of image_manifest,
// image_index, image_push and image_load: the one place where templates are
// turned into values, for every rule.
//
// Templates are Go text/template strings: {{.NAME}},
// {{if .X}}a{{else}}b{{end}}, {{if eq .env "dev"}}-dev{{end}}, and the other
// built-in actions and functions. Every template sees one map of strings.
// Its values, lowest precedence first, each level overriding the one before:
//
//  1. Bazel's workspace status keys, when the target stamps: the files in the
//     order given (stable-status.txt, then volatile-status.txt), so a
//     volatile key wins over a stable key of the same name;
//  2. the target's build_settings, by the names the user gave them: a build
//     setting wins over a status key of the same name.
//
// A name that neither defines expands to "" (never "<no value>"), so
// {{if .X}} tests whether X is set and a build without --stamp still
// expands.
package expand

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/rules-img/rules_img/tools/blob"
)

// Request is what a rule's template action asks for, as JSON.
type Request struct {
	// Label names the target in error messages.
	Label string `json:"label"`
	// Data fields are copied to the output unchanged.
	Data map[string]any `json:"data"`
	// Templates fields are strings, or lists or objects of them nested to
	// any depth; every string is expanded, object keys are not.
	Templates map[string]any `json:"templates"`
	// BuildSettings are the values of the target's build_settings by name.
	BuildSettings map[string]string `json:"build_settings"`
	// DropEmpty names list fields of Templates whose empty strings and
	// repeated strings are removed after expansion: tags that a template
	// turned off.
	DropEmpty []string `json:"drop_empty"`
}

// hint reminds the reader of the template language; parse and execution
// errors end with it.
const hint = `templates are Go text/template, e.g. {{.NAME}} or {{if eq .NAME "v"}}...{{end}}`

// ReadRequest reads a request file. Numbers in data are kept as written
// (json.Number), and unknown fields are errors, so a request that the rules
// and this tool disagree about fails here.
func ReadRequest(path string) (Request, error) {
	var r Request
	f, err := os.Open(path)
	if err != nil {
		return r, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("request %s: %w", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return r, fmt.Errorf("request %s: more than one JSON value", path)
	}
	return r, nil
}

// Run expands every template of req. status holds the workspace status keys
// (empty when the target does not stamp); req.BuildSettings override them.
// The result holds req.Data's fields and the expanded templates; neither req
// nor status is changed.
func Run(req Request, status map[string]string) (map[string]any, error) {
	if req.Label == "" {
		return nil, errors.New(`request has no "label": give the target's label, e.g. "//pkg:name"`)
	}
	vars := make(map[string]string, len(status)+len(req.BuildSettings))
	maps.Copy(vars, status)
	maps.Copy(vars, req.BuildSettings) // build settings win
	out := make(map[string]any, len(req.Data)+len(req.Templates))
	maps.Copy(out, req.Data)
	// Sorted, so that of several errors the same one is reported each time.
	for _, name := range slices.Sorted(maps.Keys(req.Templates)) {
		if _, ok := req.Data[name]; ok {
			return nil, fmt.Errorf("%s: field %q is in both data and templates: the rule must put it in one of them", req.Label, name)
		}
		v, err := expandValue(name, req.Templates[name], vars)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", req.Label, err)
		}
		out[name] = v
	}
	for _, name := range req.DropEmpty {
		if _, ok := req.Templates[name]; !ok {
			return nil, fmt.Errorf("%s: drop_empty names %q, which is not a field of templates", req.Label, name)
		}
		list, err := dropEmpty(name, out[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", req.Label, err)
		}
		out[name] = list
	}
	return out, nil
}

// expandValue expands every string in v; path names v in errors, as in
// tag_list[1] or labels["org.opencontainers.image.version"].
func expandValue(path string, v any, vars map[string]string) (any, error) {
	switch v := v.(type) {
	case string:
		return expandString(path, v, vars)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			x, err := expandValue(fmt.Sprintf("%s[%d]", path, i), e, vars)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			x, err := expandValue(path+"["+strconv.Quote(k)+"]", v[k], vars)
			if err != nil {
				return nil, err
			}
			out[k] = x
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s is %s, not a template: templates are strings, or lists or objects of them; put other values in data", path, describe(v))
}

// expandString parses and runs one template. The error names the field and
// the template but no value: values may come from the workspace status.
func expandString(path, text string, vars map[string]string) (string, error) {
	// missingkey=zero on a map[string]string gives "" for a missing key;
	// the default would print "<no value>".
	t, err := template.New(path).Option("missingkey=zero").Parse(text)
	if err != nil {
		return "", fmt.Errorf("%s: template %q does not parse: %s (%s)", path, text, goMessage(path, err), hint)
	}
	var b strings.Builder
	if err := t.Execute(&b, vars); err != nil {
		return "", fmt.Errorf("%s: template %q fails: %s (%s)", path, text, goMessage(path, err), hint)
	}
	return b.String(), nil
}

// goMessage is text/template's message without the template's name, which
// the caller has already given: `template: tags[0]:1:4: executing "tags[0]"
// at <.X.Y>: ...` becomes `line 1:4: at <.X.Y>: ...`.
func goMessage(path string, err error) string {
	msg := strings.Replace(err.Error(), "template: "+path+":", "line ", 1)
	return strings.Replace(msg, "executing "+strconv.Quote(path)+" ", "", 1)
}

// dropEmpty removes empty strings and repeats from the list field name,
// keeping the first of each.
func dropEmpty(name string, v any) ([]any, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("drop_empty names %q, which is %s, not a list of strings", name, describe(v))
	}
	out := []any{}
	seen := map[string]bool{}
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("drop_empty names %q, but %s[%d] is %s, not a string", name, name, i, describe(e))
		}
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out, nil
}

// Write stores out as JSON with sorted keys and a trailing newline,
// through a temporary file, so the same request always gives the same bytes
// and a failed action leaves no half-written file.
func Write(path string, out map[string]any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// Tags and labels are not HTML: keep "&" and "<" readable.
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	return blob.WriteFileAtomic(path, b.Bytes())
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64, int:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}
