// Package secretbox seals small secrets (API tokens, app secrets) for storage with
// AES-256-GCM under one 32-byte key, and opens them again. A sealed value is text:
// a version prefix ("v1:") and the base64 of a random nonce followed by the ciphertext,
// so that it fits a text column and a later key or algorithm can sit beside it.
//
// It never logs, and its errors never carry a plaintext or a key.
package secretbox
