package bes

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/tools/cas"
)

// FuzzJob feeds what a client could put in the shared cache as a push
// target's spec, settings and tags: the server must not fail on it, and
// must never push outside its allow-list nor read another cache.
//
//	go test ./tools/bes -run '^$' -fuzz FuzzJob -fuzztime 30s
func FuzzJob(f *testing.F) {
	f.Add([]byte(`{"manifests":[{"manifest":"m.json","config":"c.json","layers":[{"metadata":"l.json"}]}]}`),
		[]byte(`{"registry":"registry.example.com","repository":"team/app","tags":["latest"],"tags_file":"t.txt","strategy":"bes"}`),
		[]byte("v1\n"))
	f.Add([]byte(`{"manifests":[]}`), []byte(`{"registry":"registry.example.com","repository":"team/../prod","strategy":"bes","remote_cache":"grpc://evil","credential_helper":"/bin/sh"}`), []byte(""))
	f.Add([]byte(`{"index":"i.json","manifests":[{}]}`), []byte(`{"registry":"evil.example.com","repository":"team/app","strategy":"eager"}`), []byte("\x00"))
	store := &serverCache{}
	allow := AllowList{{registry: "registry.example.com", prefix: "team"}}
	f.Fuzz(func(t *testing.T, spec, config, tags []byte) {
		files := map[string][]byte{"s.json": spec, "p.json": config, "t.txt": tags}
		read := func(path string) ([]byte, error) {
			if data, ok := files[path]; ok {
				return data, nil
			}
			return nil, fmt.Errorf("the build reported no file %s", path)
		}
		var logs strings.Builder
		c := CachePusher{Cache: store, Allow: allow, Log: func(format string, args ...any) { fmt.Fprintf(&logs, format, args...) }}
		job, err := c.job(Target{Label: "//:push", Spec: "s.json", Config: "p.json", Tags: "t.txt"}, read)
		if err != nil {
			return
		}
		if err := allow.Check(job.Target.Registry, job.Target.Repository); err != nil {
			t.Errorf("a job outside the allow-list: %v", err)
		}
		if job.Cache != store {
			t.Error("a job reads another cache than the server's")
		}
		if len(job.Spec.Manifests) == 0 {
			t.Error("a job of no manifest")
		}
	})
}

// serverCache stands for the server's cache; job reads nothing from it.
type serverCache struct{ cas.Store }
