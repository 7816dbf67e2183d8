package httpapi

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crierhq/crier/internal/apperr"
)

// Text that PostgreSQL cannot store, or that would not come back as it was sent, is refused
// at the edge with the field it is in: a NUL character (text columns refuse it, so it
// became a 500) and invalid UTF-8 (encoding/json would silently store U+FFFD instead).

// badText says what is wrong with s as text, or "".
func badText(s string) string {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return "must not contain a NUL character (\\u0000)"
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	}
	return ""
}

// checkJSONText walks a JSON document and reports, by field path ("locales[0].body",
// "attributes.tier"), every string or object key holding a NUL character or invalid UTF-8.
// It reads the raw bytes of each string, since decoding hides invalid UTF-8. A document
// that is not valid JSON is left to the decoder to explain.
func checkJSONText(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		key    string // the current key of an object
		index  int    // the next index of an array
		keyed  bool   // an object whose key was read and whose value is next
	}
	var stack []frame
	var errs []apperr.FieldError
	// path names the value being read: the keys and indexes of the containers above it.
	path := func(frames []frame) string {
		var b strings.Builder
		for _, f := range frames {
			if f.object {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			} else {
				b.WriteString("[" + strconv.Itoa(f.index-1) + "]")
			}
		}
		return b.String()
	}
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			break // io.EOF, or a syntax error the decoder will report
		}
		top := len(stack) - 1
		isKey := top >= 0 && stack[top].object && !stack[top].keyed
		if top >= 0 && !stack[top].object {
			if d, ok := tok.(json.Delim); !ok || (d != ']' && d != '}') {
				stack[top].index++
			}
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, frame{object: t == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				if n := len(stack); n > 0 && stack[n-1].object {
					stack[n-1].keyed = false
				}
			}
			continue
		case string:
			raw := body[start:dec.InputOffset()]
			problem := badText(t)
			if problem == "" && !utf8.Valid(raw) {
				problem = "must be valid UTF-8"
			}
			if isKey {
				if problem != "" {
					field := path(stack[:top])
					if field == "" {
						field = "body"
					}
					errs = append(errs, apperr.FieldError{Field: field, Message: "has a key that " + keyProblem(problem)})
				}
				stack[top].key, stack[top].keyed = t, true
				continue
			}
			if problem != "" {
				field := path(stack)
				if field == "" {
					field = "body"
				}
				errs = append(errs, apperr.FieldError{Field: field, Message: problem})
			}
		}
		if top >= 0 && stack[top].object {
			stack[top].keyed = false
		}
	}
	return apperr.Fields(errs...)
}

// keyProblem turns badText's "must …" into the words for an object key.
func keyProblem(problem string) string {
	if strings.Contains(problem, "NUL") {
		return "contains a NUL character (\\u0000)"
	}
	return "is not valid UTF-8"
}

// checkQueryText refuses query parameters and a path that hold a NUL character or invalid
// UTF-8, naming the parameter.
func checkQueryText(u *url.URL) error {
	var errs []apperr.FieldError
	if problem := badText(u.Path); problem != "" {
		errs = append(errs, apperr.FieldError{Field: "path", Message: problem})
	}
	for key, values := range u.Query() {
		if problem := badText(key); problem != "" {
			errs = append(errs, apperr.FieldError{Field: "query", Message: "has a parameter name that " + keyProblem(problem)})
			continue
		}
		for _, v := range values {
			if problem := badText(v); problem != "" {
				errs = append(errs, apperr.FieldError{Field: key, Message: problem})
				break
			}
		}
	}
	return apperr.Fields(errs...)
}
