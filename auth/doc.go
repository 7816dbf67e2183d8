// Package auth owns who may do what: API keys (random, shown once, stored as a SHA-256
// hash, compared in constant time), the five roles, and the one table that grants
// permissions to roles.
//
// It never sees an HTTP request: httpapi turns a bearer token into a Key with
// Keys.Authenticate and asks Role.Can before running a handler.
package auth
