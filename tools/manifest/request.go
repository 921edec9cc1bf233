// Package manifest writes an image config and manifest from a base image's
// manifest and config plus the metadata of new layers. It never reads layer
// blobs.
package manifest

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Request is what the image_manifest rule asks for. Paths are files in the
// action's inputs. Config fields left nil keep the base image's value.
type Request struct {
	BaseManifest   string            `json:"base_manifest"`
	BaseConfig     string            `json:"base_config"`
	Layers         []string          `json:"layers"`
	Platform       Platform          `json:"platform"`
	Config         ConfigSettings    `json:"config"`
	ConfigFragment string            `json:"config_fragment"`
	Annotations    map[string]string `json:"annotations"`
	Created        string            `json:"created"`
	// Label names the target in history entries and error messages.
	Label string `json:"label"`
	// Labels, Env and EnvOrder are the config's labels and environment
	// as `img expand` wrote them (templates expanded); ReadRequest moves
	// them into Config. EnvOrder keeps env in the order of the attribute.
	Labels   map[string]string `json:"labels"`
	Env      map[string]string `json:"env"`
	EnvOrder []string          `json:"env_order"`
}

// Platform is the OCI platform the image is built for.
type Platform struct {
	OS           string   `json:"os"`
	Architecture string   `json:"architecture"`
	Variant      string   `json:"variant,omitempty"`
	OSVersion    string   `json:"os_version,omitempty"`
	OSFeatures   []string `json:"os_features,omitempty"`
}

// ConfigSettings are the image_manifest attributes that end up in the
// config's "config" object.
type ConfigSettings struct {
	Entrypoint   []string          `json:"entrypoint"`
	Cmd          []string          `json:"cmd"`
	Env          [][2]string       `json:"env"` // ordered key/value pairs
	User         *string           `json:"user"`
	WorkingDir   *string           `json:"working_dir"`
	ExposedPorts []string          `json:"exposed_ports"`
	Volumes      []string          `json:"volumes"`
	Labels       map[string]string `json:"labels"`
	StopSignal   *string           `json:"stop_signal"`
}

// ReadRequest reads and checks a request file.
func ReadRequest(path string) (Request, error) {
	var r Request
	data, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("request %s: %w", path, err)
	}
	if err := r.moveTemplated(); err != nil {
		return r, fmt.Errorf("request %s: %w", path, err)
	}
	return r, r.Validate()
}

// moveTemplated puts the top-level labels and env into Config.
func (r *Request) moveTemplated() error {
	if r.Labels != nil {
		r.Config.Labels = r.Labels
	}
	if len(r.EnvOrder) != len(r.Env) {
		return fmt.Errorf("env has %d variables but env_order %d", len(r.Env), len(r.EnvOrder))
	}
	for _, k := range r.EnvOrder {
		v, ok := r.Env[k]
		if !ok {
			return fmt.Errorf("env_order names %q, which env lacks", k)
		}
		r.Config.Env = append(r.Config.Env, [2]string{k, v})
	}
	r.Labels, r.Env, r.EnvOrder = nil, nil, nil
	return nil
}

var portPattern = regexp.MustCompile(`^([0-9]{1,5})(/(tcp|udp|sctp))?$`)

// validPort reports whether p is PORT or PORT/PROTOCOL with a port number
// from 1 to 65535.
func validPort(p string) bool {
	m := portPattern.FindStringSubmatch(p)
	if m == nil {
		return false
	}
	n, err := strconv.Atoi(m[1])
	return err == nil && n >= 1 && n <= 65535
}

// Validate checks the fields that have a fixed syntax.
func (r Request) Validate() error {
	if r.Platform.OS == "" || r.Platform.Architecture == "" {
		return fmt.Errorf("platform needs os and architecture, got %+v", r.Platform)
	}
	if (r.BaseManifest == "") != (r.BaseConfig == "") {
		return fmt.Errorf("a base needs both its manifest and its config")
	}
	if _, err := r.createdTime(); err != nil {
		return err
	}
	for _, p := range r.Config.ExposedPorts {
		if !validPort(p) {
			return fmt.Errorf("exposed_ports: %q is not PORT or PORT/PROTOCOL (a port from 1 to 65535; tcp, udp or sctp), for example \"8080/tcp\"", p)
		}
	}
	for _, kv := range r.Config.Env {
		if kv[0] == "" || strings.Contains(kv[0], "=") {
			return fmt.Errorf("env: %q is not a valid variable name (it must be non-empty and without '=')", kv[0])
		}
	}
	for _, v := range r.Config.Volumes {
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("volumes: %q is not an absolute path", v)
		}
	}
	return nil
}

func (r Request) createdTime() (time.Time, error) {
	if r.Created == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, r.Created)
	if err != nil {
		return t, fmt.Errorf("created: %q is not an RFC 3339 time such as 1970-01-01T00:00:00Z", r.Created)
	}
	return t.UTC(), nil
}
