package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/crierhq/crier/internal/apperr"
)

// validate checks the shape of request bodies; the domain packages check their meaning.
// Field names in its errors are the JSON names.
var validate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	return v
}()

// decodeJSON reads one JSON object from the body into dst: the body must be JSON, within
// the size limit, with no unknown fields, no NUL character or invalid UTF-8 in any string,
// and nothing after the object. Then dst's `validate` tags are checked.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return errStatus(http.StatusUnsupportedMediaType, "unsupported-media-type",
				fmt.Sprintf("the body must be application/json, not %q", ct))
		}
	}
	// The body is read whole (it is at most MaxBodyBytes) so that its text can be checked
	// before anything is decoded: NUL characters and invalid UTF-8 are refused by field.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		return jsonError(err)
	}
	if err := checkJSONText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); err != io.EOF {
		return errStatus(http.StatusBadRequest, "malformed", "the body must hold a single JSON object")
	}
	return validateStruct(dst)
}

// jsonError explains a decoding failure in terms of the request.
func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return errStatus(http.StatusBadRequest, "malformed", "the body is empty: it must be a JSON object")
	case errors.As(err, &tooBig):
		return errStatus(http.StatusRequestEntityTooLarge, "too-large", fmt.Sprintf("the body is larger than %d bytes", tooBig.Limit))
	case errors.As(err, &syntax):
		return errStatus(http.StatusBadRequest, "malformed", fmt.Sprintf("the body is not valid JSON (at byte %d): %v", syntax.Offset, syntax))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errStatus(http.StatusBadRequest, "malformed", "the body is not valid JSON: it ends too early")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errStatus(http.StatusBadRequest, "malformed", "the body must be a JSON object")
		}
		return apperr.Field(field, "must be %s, not %s", jsonType(typ.Type), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.Field(name, "is not a known field")
	}
	return errStatus(http.StatusBadRequest, "malformed", "the body is not valid JSON: "+err.Error())
}

func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "of another type"
}

// validateStruct runs the validator and turns its errors into field errors.
func validateStruct(v any) error {
	err := validate.Struct(v)
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return nil
	}
	fields := make([]apperr.FieldError, 0, len(verrs))
	for _, fe := range verrs {
		fields = append(fields, apperr.FieldError{Field: fieldPath(fe.Namespace()), Message: validationMessage(fe)})
	}
	return apperr.Fields(fields...)
}

// fieldPath drops the struct name that starts a validator namespace: "req.locales[0].body"
// → "locales[0].body".
func fieldPath(ns string) string {
	_, rest, ok := strings.Cut(ns, ".")
	if !ok {
		return ns
	}
	return rest
}

func validationMessage(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "max":
		if fe.Kind() == reflect.String {
			return "must be at most " + fe.Param() + " characters long"
		}
		if fe.Kind() == reflect.Slice || fe.Kind() == reflect.Map {
			return "must have at most " + fe.Param() + " items"
		}
		return "must be at most " + fe.Param()
	case "min":
		if fe.Kind() == reflect.Slice || fe.Kind() == reflect.Map {
			return "must have at least " + fe.Param() + " items"
		}
		if fe.Kind() == reflect.String {
			return "must be at least " + fe.Param() + " characters long"
		}
		return "must be at least " + fe.Param()
	case "gt":
		return "must be greater than " + fe.Param()
	case "gte":
		return "must be at least " + fe.Param()
	case "oneof":
		return "must be one of: " + strings.ReplaceAll(fe.Param(), " ", ", ")
	case "email":
		return "must be an email address"
	case "url", "http_url":
		return "must be a URL"
	}
	return "is invalid (" + fe.Tag() + ")"
}

// page reads the limit and cursor query parameters. The cursor is an opaque token the
// previous page returned; inside it is a keyset position.
func page(r *http.Request) (limit int, after int64, err error) {
	q := r.URL.Query()
	limit = 50
	var errs []apperr.FieldError
	if s := q.Get("limit"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > 1000 {
			errs = append(errs, apperr.FieldError{Field: "limit", Message: "must be an integer from 1 to 1000"})
		}
		limit = n
	}
	if s := q.Get("cursor"); s != "" {
		b, derr := base64.RawURLEncoding.DecodeString(s)
		v, found := strings.CutPrefix(string(b), "k1:")
		n, perr := strconv.ParseInt(v, 10, 64)
		if derr != nil || !found || perr != nil || n <= 0 {
			errs = append(errs, apperr.FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
		}
		after = n
	}
	return limit, after, apperr.Fields(errs...)
}

// cursor encodes a keyset position; 0 (the end) is null.
func cursor(pos int64) *string {
	if pos == 0 {
		return nil
	}
	s := base64.RawURLEncoding.EncodeToString([]byte("k1:" + strconv.FormatInt(pos, 10)))
	return &s
}

// pathID reads the {id} path parameter of a route about a noun ("contact").
func pathID(r *http.Request, noun string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.NotFoundf("there is no %s %q", noun, r.PathValue("id"))
	}
	return id, nil
}

// listResponse is the envelope of every paginated list.
type listResponse[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}
