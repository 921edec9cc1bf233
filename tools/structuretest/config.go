// Package structuretest checks an image against container-structure-test
// configs (schemaVersion 2.0.0) without a container runtime: metadata from
// the image config, file existence from the layers' listings, file contents
// from the blobs of the layers that hold the files.
package structuretest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"

	"sigs.k8s.io/yaml"
)

// Config is one container-structure-test config file.
type Config struct {
	SchemaVersion      string              `json:"schemaVersion"`
	MetadataTest       *MetadataTest       `json:"metadataTest,omitempty"`
	FileExistenceTests []FileExistenceTest `json:"fileExistenceTests,omitempty"`
	FileContentTests   []FileContentTest   `json:"fileContentTests,omitempty"`
	// Refused: they need a running container or a scan of it.
	CommandTests        json.RawMessage `json:"commandTests,omitempty"`
	LicenseTests        json.RawMessage `json:"licenseTests,omitempty"`
	GlobalEnvVars       json.RawMessage `json:"globalEnvVars,omitempty"`
	ContainerRunOptions json.RawMessage `json:"containerRunOptions,omitempty"`

	file string
}

// KeyValue is an env or label test: Value is a Go regexp when IsRegex.
type KeyValue struct {
	Key     string `json:"key"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
}

// MetadataTest checks the image config. A nil list or "" is not checked.
type MetadataTest struct {
	Env              []KeyValue `json:"env,omitempty"`
	EnvVars          []KeyValue `json:"envVars,omitempty"`
	Labels           []KeyValue `json:"labels,omitempty"`
	ExposedPorts     []string   `json:"exposedPorts,omitempty"`
	UnexposedPorts   []string   `json:"unexposedPorts,omitempty"`
	Volumes          []string   `json:"volumes,omitempty"`
	UnmountedVolumes []string   `json:"unmountedVolumes,omitempty"`
	Entrypoint       *[]string  `json:"entrypoint,omitempty"`
	Cmd              *[]string  `json:"cmd,omitempty"`
	Workdir          string     `json:"workdir,omitempty"`
	User             string     `json:"user,omitempty"`
}

// FileExistenceTest checks one path. ShouldExist is true unless the config
// says false; UID and GID are checked only when given.
type FileExistenceTest struct {
	Name           string `json:"name"`
	Path           string `json:"path"`
	ShouldExist    *bool  `json:"shouldExist,omitempty"`
	Permissions    string `json:"permissions,omitempty"`
	UID            *int   `json:"uid,omitempty"`
	GID            *int   `json:"gid,omitempty"`
	IsExecutableBy string `json:"isExecutableBy,omitempty"`
}

// FileContentTest matches a file's contents against Go regexps.
type FileContentTest struct {
	Name             string   `json:"name"`
	Path             string   `json:"path"`
	ExpectedContents []string `json:"expectedContents,omitempty"`
	ExcludedContents []string `json:"excludedContents,omitempty"`
}

// ReadConfig reads a YAML or JSON config and refuses what this checker
// cannot judge, naming the file and the field.
func ReadConfig(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	asJSON, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(asJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w (the fields are those of container-structure-test's schemaVersion 2.0.0)", file, err)
	}
	c.file = file
	return &c, c.validate()
}

func (c *Config) validate() error {
	if c.SchemaVersion != "2.0.0" {
		return fmt.Errorf("%s: schemaVersion %q: only 2.0.0 is supported", c.file, c.SchemaVersion)
	}
	for field, raw := range map[string]json.RawMessage{"commandTests": c.CommandTests, "containerRunOptions": c.ContainerRunOptions, "globalEnvVars": c.GlobalEnvVars} {
		if len(raw) > 0 && string(raw) != "null" {
			return fmt.Errorf("%s: %s run a container, which image_structure_test never does: move them to an image_run_test", c.file, field)
		}
	}
	if len(c.LicenseTests) > 0 && string(c.LicenseTests) != "null" {
		return fmt.Errorf("%s: licenseTests scan a running container's Debian copyright files, which image_structure_test does not: check those files with fileExistenceTests or fileContentTests", c.file)
	}
	for i, t := range c.FileExistenceTests {
		if t.Name == "" || t.Path == "" {
			return fmt.Errorf("%s: fileExistenceTests[%d] needs a name and a path", c.file, i)
		}
		switch t.IsExecutableBy {
		case "", "any", "owner", "group", "other":
		default:
			return fmt.Errorf("%s: fileExistenceTests[%d] (%s): isExecutableBy %q is not any, owner, group or other", c.file, i, t.Name, t.IsExecutableBy)
		}
	}
	for i, t := range c.FileContentTests {
		if t.Name == "" || t.Path == "" {
			return fmt.Errorf("%s: fileContentTests[%d] needs a name and a path", c.file, i)
		}
		for _, re := range append(append([]string{}, t.ExpectedContents...), t.ExcludedContents...) {
			if _, err := regexp.Compile(re); err != nil {
				return fmt.Errorf("%s: fileContentTests[%d] (%s): %w", c.file, i, t.Name, err)
			}
		}
	}
	if m := c.MetadataTest; m != nil {
		for _, kv := range append(append(append([]KeyValue{}, m.Env...), m.EnvVars...), m.Labels...) {
			if kv.Key == "" {
				return fmt.Errorf("%s: metadataTest: an env or label test has no key", c.file)
			}
			if kv.IsRegex {
				if _, err := regexp.Compile(kv.Value); err != nil {
					return fmt.Errorf("%s: metadataTest: %s: %w", c.file, kv.Key, err)
				}
			}
		}
	}
	return nil
}
