package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/rules-img/rules_img/tools/blob"
)

// jsonObject is a config held as generic JSON, so that fields this tool does
// not know about (a base image's Healthcheck, say) pass through unchanged.
type jsonObject = map[string]any

// decodeObject parses JSON keeping numbers exact.
func decodeObject(data []byte, what string) (jsonObject, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj jsonObject
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %w", what, err)
	}
	if obj == nil {
		obj = jsonObject{}
	}
	return obj, nil
}

func readObject(path, what string) (jsonObject, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeObject(data, what+" "+path)
}

// merge copies src into dst; nested objects are merged, everything else
// is replaced.
func merge(dst, src jsonObject) {
	for k, v := range src {
		if sub, ok := v.(jsonObject); ok {
			if dsub, ok := dst[k].(jsonObject); ok {
				merge(dsub, sub)
				continue
			}
		}
		dst[k] = v
	}
}

func object(parent jsonObject, key string) jsonObject {
	if obj, ok := parent[key].(jsonObject); ok {
		return obj
	}
	obj := jsonObject{}
	parent[key] = obj
	return obj
}

// buildConfig layers, lowest first: the base config, the config fragment, the
// rule's settings, then the platform, rootfs and history of the new layers.
func buildConfig(r Request, layers []blob.LayerMetadata) (jsonObject, error) {
	cfg := jsonObject{}
	if r.BaseConfig != "" {
		base, err := readObject(r.BaseConfig, "base config")
		if err != nil {
			return nil, err
		}
		cfg = base
		if len(r.Config.Entrypoint) > 0 && len(r.Config.Cmd) == 0 {
			// As in a Dockerfile: a new entrypoint drops the base image's
			// Cmd (but not one that the config fragment sets).
			delete(object(cfg, "config"), "Cmd")
		}
	}
	if r.ConfigFragment != "" {
		frag, err := readObject(r.ConfigFragment, "config_fragment")
		if err != nil {
			return nil, err
		}
		merge(cfg, frag)
	}
	applySettings(object(cfg, "config"), r.Config)

	created, err := r.createdTime()
	if err != nil {
		return nil, err
	}
	cfg["created"] = created.Format("2006-01-02T15:04:05Z")
	cfg["os"] = r.Platform.OS
	cfg["architecture"] = r.Platform.Architecture
	for _, key := range []string{"variant", "os.version", "os.features"} {
		delete(cfg, key)
	}
	if r.Platform.Variant != "" {
		cfg["variant"] = r.Platform.Variant
	}
	if r.Platform.OSVersion != "" {
		cfg["os.version"] = r.Platform.OSVersion
	}
	if len(r.Platform.OSFeatures) > 0 {
		cfg["os.features"] = r.Platform.OSFeatures
	}

	rootfs := object(cfg, "rootfs")
	rootfs["type"] = "layers"
	diffIDs, _ := rootfs["diff_ids"].([]any)
	history, _ := cfg["history"].([]any)
	for _, l := range layers {
		diffIDs = append(diffIDs, l.DiffID)
		history = append(history, jsonObject{
			"created":    cfg["created"],
			"created_by": "bazel build " + r.Label,
			"comment":    "rules_img",
		})
	}
	if diffIDs == nil {
		diffIDs = []any{}
	}
	rootfs["diff_ids"] = diffIDs
	if len(history) > 0 {
		cfg["history"] = history
	}
	return cfg, nil
}

// applySettings sets the rule's attributes; nil or empty keeps the value
// from the base or the fragment.
func applySettings(c jsonObject, s ConfigSettings) {
	if len(s.Entrypoint) > 0 {
		c["Entrypoint"] = strings2any(s.Entrypoint)
	}
	if len(s.Cmd) > 0 {
		c["Cmd"] = strings2any(s.Cmd)
	}
	if len(s.Env) > 0 {
		c["Env"] = mergeEnv(c["Env"], s.Env)
	}
	if s.User != nil {
		c["User"] = *s.User
	}
	if s.WorkingDir != nil {
		c["WorkingDir"] = *s.WorkingDir
	}
	if len(s.ExposedPorts) > 0 {
		ports := object(c, "ExposedPorts")
		for _, p := range s.ExposedPorts {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			ports[p] = jsonObject{}
		}
	}
	if len(s.Volumes) > 0 {
		vols := object(c, "Volumes")
		for _, v := range s.Volumes {
			vols[v] = jsonObject{}
		}
	}
	if len(s.Labels) > 0 {
		labels := object(c, "Labels")
		for k, v := range s.Labels {
			labels[k] = v
		}
	}
	if s.StopSignal != nil {
		c["StopSignal"] = *s.StopSignal
	}
}

// mergeEnv overrides variables of the base in place and appends new ones,
// in the order the rule gave them.
func mergeEnv(base any, env [][2]string) []any {
	var out []any
	index := map[string]int{}
	if list, ok := base.([]any); ok {
		for _, item := range list {
			s, _ := item.(string)
			name, _, _ := strings.Cut(s, "=")
			index[name] = len(out)
			out = append(out, s)
		}
	}
	for _, kv := range env {
		entry := kv[0] + "=" + kv[1]
		if i, ok := index[kv[0]]; ok {
			out[i] = entry
			continue
		}
		index[kv[0]] = len(out)
		out = append(out, entry)
	}
	return out
}

func strings2any(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
