// Package apperr is the small error vocabulary shared by the domain packages: an error
// code that callers branch on, a message a user may read, and field-level reasons for
// invalid input. It knows nothing about HTTP; httpapi maps codes to statuses in one table.
package apperr

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies an error for callers. The zero value means "unexpected".
type Code string

// The codes a domain package may return.
const (
	Invalid     Code = "invalid"     // the input is wrong; Fields says where
	NotFound    Code = "not_found"   // the thing asked for does not exist
	Conflict    Code = "conflict"    // the request clashes with the current state
	Unavailable Code = "unavailable" // a dependency is down; retrying may help
)

// FieldError is one reason why one input field was rejected. Field is a dotted path
// into the input as the user wrote it, e.g. "phone" or "locales[1].variants[0].body".
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error a user is allowed to read.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	Err     error // the cause, for logs and errors.Is; never shown to users
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for i, f := range e.Fields {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.Field)
		b.WriteString(": ")
		b.WriteString(f.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Newf returns an error with the given code and a formatted message.
func Newf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// NotFoundf returns a NotFound error.
func NotFoundf(format string, args ...any) *Error { return Newf(NotFound, format, args...) }

// Conflictf returns a Conflict error.
func Conflictf(format string, args ...any) *Error { return Newf(Conflict, format, args...) }

// Invalidf returns an Invalid error with no field detail.
func Invalidf(format string, args ...any) *Error { return Newf(Invalid, format, args...) }

// Fields returns an Invalid error carrying the given field errors, or nil when there are
// none, so that validators can end with `return apperr.Fields(errs...)`.
func Fields(fields ...FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Code: Invalid, Message: "invalid input", Fields: fields}
}

// Field returns an Invalid error for a single field.
func Field(field, format string, args ...any) error {
	return Fields(FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// CodeOf returns the code of the first *Error in err's chain, or "" when there is none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// FieldsOf returns the field errors of the first *Error in err's chain.
func FieldsOf(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// Prefix returns err with every field path prefixed by prefix (a dotted path), so that a
// nested validator's errors point into the whole input. Other errors pass through.
func Prefix(prefix string, err error) error {
	var e *Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	out := *e
	out.Fields = make([]FieldError, len(e.Fields))
	for i, f := range e.Fields {
		out.Fields[i] = FieldError{Field: join(prefix, f.Field), Message: f.Message}
	}
	return &out
}

func join(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	}
	return prefix + "." + field
}
