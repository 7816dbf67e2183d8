package main

import (
	"errors"
	"io"

	"github.com/mdp/qrterminal/v3"
)

// maxQRText is far above WhatsApp's pairing texts (about 200 characters) and below what a
// QR code at the lowest error-correction level holds.
const maxQRText = 2000

// renderQR draws code (a sender.PairEvent's Code) as a QR code in half-block characters,
// two rows of modules per line of text, small enough for a terminal, for
// `crier accounts pair ID`. Scan it with WhatsApp → Linked devices → Link a device.
func renderQR(w io.Writer, code string) error {
	if code == "" || len(code) > maxQRText {
		return errors.New("render QR: the code is empty or too long")
	}
	qrterminal.GenerateHalfBlock(code, qrterminal.L, w)
	return nil
}
