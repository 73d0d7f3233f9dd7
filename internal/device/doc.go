// Package device is the device server: the DEVICE listener's WebSocket endpoint
// (/device/v1) carrying the SIGMA-I secured channel of package sigma, enrollment with
// one-time activation codes, the device registry, and delivery of pending requests to
// connected devices (store and forward for the ones that are not).
//
// Every application message inside the channel is one JSON object in one sigma frame in
// one binary WebSocket message; docs/device-protocol.md specifies them.
package device
