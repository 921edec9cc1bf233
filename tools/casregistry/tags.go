package casregistry

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
)

// listTags is GET /v2/<name>/tags/list, in lexical order, with the spec's
// pagination: n tags at most, after last; a Link header names the next page.
func (s *Server) listTags(w http.ResponseWriter, r *http.Request, name, _ string) *apiError {
	if !s.disk.repoExists(name) {
		return nameUnknown(name)
	}
	tags, err := s.disk.tags(name)
	if err != nil {
		return internal(err)
	}
	q := r.URL.Query()
	if last := q.Get("last"); last != "" {
		tags = tags[sort.SearchStrings(tags, last):]
		if len(tags) > 0 && tags[0] == last {
			tags = tags[1:]
		}
	}
	if q.Has("n") {
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 {
			return newError(http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "n=%q is not a number of tags (0 or more)", q.Get("n"))
		}
		if n < len(tags) {
			tags = tags[:n]
			if n > 0 {
				next := url.Values{"n": {strconv.Itoa(n)}, "last": {tags[n-1]}}
				w.Header().Set("Link", `</v2/`+name+`/tags/list?`+next.Encode()+`>; rel="next"`)
			}
		}
	}
	if tags == nil {
		tags = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{name, tags})
	return nil
}
