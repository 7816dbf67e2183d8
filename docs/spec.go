// Package docs carries the files of docs/ that the binary serves: the OpenAPI description
// of the HTTP API. It exists because go:embed cannot reach a parent folder, so httpapi
// cannot embed docs/openapi.yaml itself; it must hold nothing else.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml, byte for byte: GET /openapi.yaml serves it and GET /docs
// renders it.
//
//go:embed openapi.yaml
var OpenAPI []byte
