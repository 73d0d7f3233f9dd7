package device

import (
	"bytes"
	"fmt"
	"image/png"
	"net/url"
	"strings"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// quietZone is the blank border a QR reader needs, in modules (ISO/IEC 18004 asks for 4).
const quietZone = 4

// QRPNG renders payload as a QR code (error correction M) in a PNG about size pixels wide.
func QRPNG(payload string, size int) ([]byte, error) {
	code, err := qr.Encode(payload, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("QR code: %w", err)
	}
	modules := code.Bounds().Dx() + 2*quietZone
	scale := max(size/modules, 1)
	img, err := barcode.Scale(code, code.Bounds().Dx()*scale, code.Bounds().Dy()*scale)
	if err != nil {
		return nil, err
	}
	bordered := newBordered(img, quietZone*scale)
	var buf bytes.Buffer
	if err := png.Encode(&buf, bordered); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// QRText renders payload as a QR code for a terminal: each character holds two rows of
// modules (upper and lower half blocks), dark modules drawn in the foreground colour on
// a light background, with the quiet zone around.
func QRText(payload string) (string, error) {
	code, err := qr.Encode(payload, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("QR code: %w", err)
	}
	n := code.Bounds().Dx()
	dark := func(x, y int) bool {
		x, y = x-quietZone, y-quietZone
		if x < 0 || y < 0 || x >= n || y >= n {
			return false
		}
		r, _, _, _ := code.At(x, y).RGBA()
		return r < 0x8000
	}
	var b strings.Builder
	size := n + 2*quietZone
	for y := 0; y < size; y += 2 {
		// Light background (reverse video off, explicit white), dark modules in black.
		b.WriteString("\x1b[47;30m")
		for x := range size {
			top, bottom := dark(x, y), dark(x, y+1)
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString("\x1b[0m\n")
	}
	return b.String(), nil
}

// LoginURL is the QR payload of a QR login: the DEVICE public URL, and in the fragment
// (which no browser sends on) the realm and the request's id. An enrolled app claims the
// request over its channel (message claim).
func LoginURL(deviceURL, realm, id string) string {
	v := url.Values{}
	v.Set("realm", realm)
	v.Set("request", id)
	return strings.TrimSuffix(deviceURL, "/") + "/login#" + v.Encode()
}
