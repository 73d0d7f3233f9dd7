package sigma

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"os"
	"reflect"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json with fresh signatures")

const vectorsPath = "testdata/vectors.json"

// The vector file: docs/device-protocol.md walks through its first handshake. Every
// value is hex unless it is text. Inputs are the static and ephemeral scalars, the
// nonces and the two recorded signatures (ECDSA signatures are randomized, so they are
// recorded, not recomputed); everything else follows from them exactly.
type vectorFile struct {
	Comment    string            `json:"comment"`
	Handshakes []handshakeVector `json:"handshakes"`
	Approvals  []approvalVector  `json:"approvals"`
}

type handshakeVector struct {
	Name string `json:"name"`

	ServerStaticPrivate    string `json:"server_static_private"`
	ServerStaticPublic     string `json:"server_static_public"`
	ServerKeyFingerprint   string `json:"server_key_fingerprint"`
	DevicePrivate          string `json:"device_private"`
	DevicePublic           string `json:"device_public"`
	DeviceID               string `json:"device_id"` // empty when enrolling
	Enroll                 bool   `json:"enroll"`
	ClientEphemeralPrivate string `json:"client_ephemeral_private"`
	ClientEphemeralPublic  string `json:"client_ephemeral_public"`
	ClientNonce            string `json:"client_nonce"`
	ServerEphemeralPrivate string `json:"server_ephemeral_private"`
	ServerEphemeralPublic  string `json:"server_ephemeral_public"`
	ServerNonce            string `json:"server_nonce"`

	ClientHello string `json:"client_hello"`

	SharedSecret          string `json:"shared_secret"`
	TH1                   string `json:"th1"`
	HandshakePRK          string `json:"handshake_prk"`
	HandshakeKeyBlock     string `json:"hs_key_block"`
	HandshakeD2SKey       string `json:"hs_d2s_key"`
	HandshakeD2SIV        string `json:"hs_d2s_iv"`
	HandshakeS2DKey       string `json:"hs_s2d_key"`
	HandshakeS2DIV        string `json:"hs_s2d_iv"`
	ServerMACKey          string `json:"server_mac_key"`
	DeviceMACKey          string `json:"device_mac_key"`
	ServerSignedMessage   string `json:"server_signed_message"`
	ServerSignature       string `json:"server_signature"`
	ServerMAC             string `json:"server_mac"`
	ServerHelloPlaintext  string `json:"server_hello_plaintext"`
	ServerHello           string `json:"server_hello"`
	TH2                   string `json:"th2"`
	DeviceIdentity        string `json:"device_identity"`
	DeviceSignedMessage   string `json:"device_signed_message"`
	DeviceSignature       string `json:"device_signature"`
	DeviceMAC             string `json:"device_mac"`
	ClientFinishPlaintext string `json:"client_finish_plaintext"`
	ClientFinish          string `json:"client_finish"`
	TH3                   string `json:"th3"`
	ApplicationPRK        string `json:"app_prk"`
	ApplicationKeyBlock   string `json:"app_key_block"`
	ApplicationD2SKey     string `json:"app_d2s_key"`
	ApplicationD2SIV      string `json:"app_d2s_iv"`
	ApplicationS2DKey     string `json:"app_s2d_key"`
	ApplicationS2DIV      string `json:"app_s2d_iv"`
	Binding               string `json:"binding"`

	Frames []frameVector `json:"frames"`
}

type frameVector struct {
	Direction string `json:"direction"` // "d2s" (device to server) or "s2d"
	Seq       uint64 `json:"seq"`
	Nonce     string `json:"nonce"`
	Plaintext string `json:"plaintext"` // text
	Frame     string `json:"frame"`
}

type approvalVector struct {
	Name                 string `json:"name"`
	DevicePrivate        string `json:"device_private"`
	DevicePublic         string `json:"device_public"`
	RequestID            string `json:"request_id"`
	Realm                string `json:"realm"`
	ClientID             string `json:"client_id"`
	Text                 string `json:"text"`
	AuthorizationDetails string `json:"authorization_details"` // text (JSON), may be empty
	Number               string `json:"number"`
	Decision             byte   `json:"decision"`
	Time                 int64  `json:"time"`
	Encoding             string `json:"encoding"`
	Digest               string `json:"digest"` // SHA-256 of the encoding, what ECDSA signs
	Signature            string `json:"signature"`
}

// vectorInputs are the fixed inputs, derived from labels so that -update keeps them.
func vectorInputs() vectorFile {
	scalar := func(label string) string {
		h := sha256.Sum256([]byte("signet sigma test vector " + label))
		return hex.EncodeToString(h[:])
	}
	serverKey, deviceKey := scalar("server static key"), scalar("device key")
	hs := func(name string, enroll bool) handshakeVector {
		v := handshakeVector{
			Name: name, Enroll: enroll,
			ServerStaticPrivate: serverKey, DevicePrivate: deviceKey,
			ClientEphemeralPrivate: scalar(name + " client ephemeral"),
			ClientNonce:            scalar(name + " client nonce"),
			ServerEphemeralPrivate: scalar(name + " server ephemeral"),
			ServerNonce:            scalar(name + " server nonce"),
		}
		if !enroll {
			v.DeviceID = "5e1f0a3c9b7d4e2f8a6c1b0d3e5f7a91"
		}
		return v
	}
	return vectorFile{
		Comment: "Signet device channel (sigma) version 1 test vectors; see docs/device-protocol.md. " +
			"All values hex except text fields. Signatures are recorded (ECDSA is randomized): verify them, do not expect to reproduce them.",
		Handshakes: []handshakeVector{hs("registered device", false), hs("enrolling device", true)},
		Approvals: []approvalVector{{
			Name: "approval with authorization details", DevicePrivate: deviceKey,
			RequestID: "6b1e0f4a-4b1e-4c61-9d1a-2f0e8c7b5a31", Realm: "demo", ClientID: "bank-portal",
			Text:                 "Pay 120.00 EUR to ACME GmbH",
			AuthorizationDetails: `[{"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"120.00"},"creditorName":"ACME GmbH"}]`,
			Number:               "37", Decision: byte(Approve), Time: 1767225600,
		}, {
			Name: "denied sign-in", DevicePrivate: deviceKey,
			RequestID: "Yk3Q9vR2", Realm: "master", ClientID: "signet-cli",
			Text: "Sign in to signet-cli", Decision: byte(Deny), Time: 1767225661,
		}},
	}
}

func TestVectors(t *testing.T) {
	want := vectorInputs()
	var recorded vectorFile
	if !*update {
		recorded = loadVectors(t)
		if len(recorded.Handshakes) != len(want.Handshakes) || len(recorded.Approvals) != len(want.Approvals) {
			t.Fatalf("%s holds other vectors than the test; run go test -run TestVectors -update", vectorsPath)
		}
	}
	for i := range want.Handshakes {
		v := &want.Handshakes[i]
		if !*update {
			v.ServerSignature, v.DeviceSignature = recorded.Handshakes[i].ServerSignature, recorded.Handshakes[i].DeviceSignature
		}
		computeHandshakeVector(t, v)
	}
	for i := range want.Approvals {
		a := &want.Approvals[i]
		if !*update {
			a.Signature = recorded.Approvals[i].Signature
		}
		computeApprovalVector(t, a)
	}
	if *update {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	diffJSON(t, "", reflect.ValueOf(recorded), reflect.ValueOf(want))
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var file vectorFile
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatalf("%s: %v", vectorsPath, err)
	}
	if len(file.Handshakes) == 0 || len(file.Handshakes[0].Frames) == 0 || len(file.Approvals) < 2 {
		t.Fatalf("%s holds fewer vectors than the tests use", vectorsPath)
	}
	return file
}

// diffJSON reports every field where the file and the recomputation differ.
func diffJSON(t *testing.T, path string, got, want reflect.Value) {
	t.Helper()
	switch got.Kind() {
	case reflect.Struct:
		for i := range got.NumField() {
			diffJSON(t, path+"."+got.Type().Field(i).Tag.Get("json"), got.Field(i), want.Field(i))
		}
	case reflect.Slice:
		if got.Len() != want.Len() {
			t.Errorf("%s: %d entries in the file, %d computed", path, got.Len(), want.Len())
			return
		}
		for i := range got.Len() {
			diffJSON(t, path+"["+strconv.Itoa(i)+"]", got.Index(i), want.Index(i))
		}
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			t.Errorf("%s: file has %v, computed %v", path, got.Interface(), want.Interface())
		}
	}
}

// recorder signs for real and keeps the signature, for -update.
type recorder struct {
	key *ecdsa.PrivateKey
	sig *string
}

func (r recorder) Public() crypto.PublicKey { return r.key.Public() }

func (r recorder) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := r.key.Sign(rand, digest, opts)
	*r.sig = hex.EncodeToString(sig)
	return sig, err
}

// vectorSigner replays a recorded signature, or signs and records one when there is none.
func vectorSigner(t testing.TB, key *ecdsa.PrivateKey, sig *string) crypto.Signer {
	if *sig == "" {
		return recorder{key: key, sig: sig}
	}
	return replaySigner{pub: &key.PublicKey, sig: unhex(t, *sig)}
}

// vectorConfigs are the two sides' configurations for v, with randomness that yields the
// vector's ephemeral scalars and nonces.
func vectorConfigs(t testing.TB, v *handshakeVector) (ClientConfig, ServerConfig) {
	server, device := keyFromHex(t, v.ServerStaticPrivate), keyFromHex(t, v.DevicePrivate)
	c := ClientConfig{
		ServerKeyFingerprint: Fingerprint(&server.PublicKey),
		Signer:               vectorSigner(t, device, &v.DeviceSignature),
		Enroll:               v.Enroll,
		Rand:                 bytes.NewReader(unhex(t, v.ClientEphemeralPrivate+v.ClientNonce)),
	}
	copy(c.DeviceID[:], unhex(t, v.DeviceID))
	s := ServerConfig{
		Keys: []crypto.Signer{vectorSigner(t, server, &v.ServerSignature)},
		LookupDevice: func(id [16]byte) (*ecdsa.PublicKey, error) {
			return &device.PublicKey, nil
		},
		Rand: bytes.NewReader(unhex(t, v.ServerEphemeralPrivate+v.ServerNonce)),
	}
	return c, s
}

// vectorHandshake runs v's handshake through the package and returns its messages.
func vectorHandshake(t testing.TB, v *handshakeVector) (m1, m2, m3 []byte, device, server *Session) {
	t.Helper()
	ccfg, scfg := vectorConfigs(t, v)
	c, err := NewClient(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(scfg)
	if err != nil {
		t.Fatal(err)
	}
	if m1, err = c.Start(); err != nil {
		t.Fatal(err)
	}
	if m2, err = s.Respond(m1); err != nil {
		t.Fatal(err)
	}
	if m3, device, err = c.Finish(m2); err != nil {
		t.Fatal(err)
	}
	if server, _, err = s.Complete(m3); err != nil {
		t.Fatal(err)
	}
	return m1, m2, m3, device, server
}

// computeHandshakeVector fills in v from its inputs: the messages by running the package,
// every intermediate value by following docs/device-protocol.md step by step with the
// standard library alone, and checks that the two agree.
func computeHandshakeVector(t *testing.T, v *handshakeVector) {
	t.Helper()
	m1, m2, m3, device, server := vectorHandshake(t, v)
	x := hex.EncodeToString
	p256 := ecdh.P256()
	point := func(scalar string) (*ecdh.PrivateKey, []byte) {
		k, err := p256.NewPrivateKey(unhex(t, scalar))
		if err != nil {
			t.Fatal(err)
		}
		return k, k.PublicKey().Bytes()
	}
	_, serverPub := point(v.ServerStaticPrivate)
	_, devicePub := point(v.DevicePrivate)
	clientEph, clientEphPub := point(v.ClientEphemeralPrivate)
	_, serverEphPub := point(v.ServerEphemeralPrivate)
	fingerprint := sha256.Sum256(serverPub)
	v.ServerStaticPublic, v.DevicePublic, v.ServerKeyFingerprint = x(serverPub), x(devicePub), x(fingerprint[:])
	v.ClientEphemeralPublic, v.ServerEphemeralPublic = x(clientEphPub), x(serverEphPub)

	// ClientHello: 01 01 | client ephemeral | client nonce | fingerprint.
	hello := concat([]byte{1, 1}, clientEphPub, unhex(t, v.ClientNonce), fingerprint[:])
	expectEqual(t, "client hello", m1, hello)
	v.ClientHello = x(m1)

	serverEph, err := p256.NewPublicKey(serverEphPub)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := clientEph.ECDH(serverEph)
	if err != nil {
		t.Fatal(err)
	}
	header2 := concat([]byte{1, 2}, serverEphPub, unhex(t, v.ServerNonce))
	expectEqual(t, "server hello header", m2[:len(header2)], header2)
	th1 := sha256.Sum256(concat(m1, header2))
	hsPRK, err := hkdf.Extract(sha256.New, shared, th1[:])
	if err != nil {
		t.Fatal(err)
	}
	hk := func(prk []byte, info string, n int) []byte {
		b, err := hkdf.Expand(sha256.New, prk, "signet sigma v1 "+info, n)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Key block: d2s key (32) | d2s IV (12) | s2d key (32) | s2d IV (12) | server MAC key
	// (32) | device MAC key (32).
	hsBlock := hk(hsPRK, "handshake", 152)
	d2sKey, d2sIV, s2dKey, s2dIV := hsBlock[0:32], hsBlock[32:44], hsBlock[44:76], hsBlock[76:88]
	serverMACKey, deviceMACKey := hsBlock[88:120], hsBlock[120:152]
	v.HandshakeKeyBlock = x(hsBlock)
	v.SharedSecret, v.TH1, v.HandshakePRK = x(shared), x(th1[:]), x(hsPRK)
	v.HandshakeD2SKey, v.HandshakeD2SIV, v.HandshakeS2DKey, v.HandshakeS2DIV = x(d2sKey), x(d2sIV), x(s2dKey), x(s2dIV)
	v.ServerMACKey, v.DeviceMACKey = x(serverMACKey), x(deviceMACKey)

	// ServerHello payload: server static public | sig length | signature | MAC, sealed
	// with the handshake s2d key, nonce = IV, additional data = the cleartext header.
	serverSigned := concat([]byte("signet sigma v1 server signature"), th1[:])
	serverSig := unhex(t, v.ServerSignature)
	if !ecdsa.VerifyASN1(ecdsaKey(t, serverPub), sha256Of(serverSigned), serverSig) {
		t.Fatal("server signature does not verify")
	}
	serverMAC := hmacOf(serverMACKey, serverPub)
	pt2 := concat(serverPub, []byte{byte(len(serverSig))}, serverSig, serverMAC)
	expectEqual(t, "server hello", m2, gcmSeal(t, s2dKey, s2dIV, header2, pt2))
	v.ServerSignedMessage, v.ServerMAC, v.ServerHelloPlaintext, v.ServerHello = x(serverSigned), x(serverMAC), x(pt2), x(m2)

	// ClientFinish payload: device identity | sig length | signature | MAC, sealed with
	// the handshake d2s key, additional data = 01 03.
	th2 := sha256.Sum256(concat(m1, m2))
	identity := make([]byte, 66)
	if v.Enroll {
		identity[0] = 2
		copy(identity[1:], devicePub)
	} else {
		identity[0] = 1
		copy(identity[1:], unhex(t, v.DeviceID))
	}
	deviceSigned := concat([]byte("signet sigma v1 device signature"), th2[:])
	deviceSig := unhex(t, v.DeviceSignature)
	if !ecdsa.VerifyASN1(ecdsaKey(t, devicePub), sha256Of(deviceSigned), deviceSig) {
		t.Fatal("device signature does not verify")
	}
	deviceMAC := hmacOf(deviceMACKey, identity)
	pt3 := concat(identity, []byte{byte(len(deviceSig))}, deviceSig, deviceMAC)
	expectEqual(t, "client finish", m3, gcmSeal(t, d2sKey, d2sIV, []byte{1, 3}, pt3))
	v.TH2, v.DeviceIdentity, v.DeviceSignedMessage = x(th2[:]), x(identity), x(deviceSigned)
	v.DeviceMAC, v.ClientFinishPlaintext, v.ClientFinish = x(deviceMAC), x(pt3), x(m3)

	th3 := sha256.Sum256(concat(m1, m2, m3))
	appPRK, err := hkdf.Extract(sha256.New, hsPRK, th3[:])
	if err != nil {
		t.Fatal(err)
	}
	// Key block: d2s key (32) | d2s IV (12) | s2d key (32) | s2d IV (12) | binding (32).
	apBlock := hk(appPRK, "application", 120)
	appKeys := map[string][]byte{"d2s": apBlock[0:32], "s2d": apBlock[44:76]}
	appIVs := map[string][]byte{"d2s": apBlock[32:44], "s2d": apBlock[76:88]}
	binding := apBlock[88:120]
	v.TH3, v.ApplicationPRK, v.ApplicationKeyBlock, v.Binding = x(th3[:]), x(appPRK), x(apBlock), x(binding)
	v.ApplicationD2SKey, v.ApplicationD2SIV = x(appKeys["d2s"]), x(appIVs["d2s"])
	v.ApplicationS2DKey, v.ApplicationS2DIV = x(appKeys["s2d"]), x(appIVs["s2d"])
	if b := device.Binding(); !bytes.Equal(b[:], binding) || server.Binding() != device.Binding() {
		t.Fatal("session binding differs from the specified derivation")
	}

	// Frames: 01 17 | seq (8 bytes) | AES-GCM(key, IV xor seq, plaintext, ad = header).
	v.Frames = nil
	seqs := map[string]uint64{}
	for _, f := range []struct{ dir, text string }{
		{"d2s", `{"type":"hello"}`}, {"s2d", `{"type":"hello","pending":0}`}, {"d2s", `{"type":"keepalive"}`},
	} {
		from, to := device, server
		if f.dir == "s2d" {
			from, to = server, device
		}
		frame, err := from.Seal([]byte(f.text))
		if err != nil {
			t.Fatal(err)
		}
		seq := seqs[f.dir]
		seqs[f.dir]++
		header := binary.BigEndian.AppendUint64([]byte{1, 0x17}, seq)
		n := bytes.Clone(appIVs[f.dir])
		for i := range 8 {
			n[4+i] ^= header[2+i]
		}
		expectEqual(t, f.dir+" frame", frame, gcmSeal(t, appKeys[f.dir], n, header, []byte(f.text)))
		if pt, err := to.Open(frame); err != nil || string(pt) != f.text {
			t.Fatalf("open %s frame: %q, %v", f.dir, pt, err)
		}
		v.Frames = append(v.Frames, frameVector{Direction: f.dir, Seq: seq, Nonce: x(n), Plaintext: f.text, Frame: x(frame)})
	}
}

func computeApprovalVector(t *testing.T, v *approvalVector) {
	t.Helper()
	key := keyFromHex(t, v.DevicePrivate)
	a := Approval{
		RequestID: v.RequestID, Realm: v.Realm, ClientID: v.ClientID, Text: v.Text,
		AuthorizationDetails: []byte(v.AuthorizationDetails), Number: v.Number,
		Decision: Decision(v.Decision), Time: v.Time,
	}
	enc, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if v.Signature == "" {
		sig, err := SignApproval(key, a)
		if err != nil {
			t.Fatal(err)
		}
		v.Signature = hex.EncodeToString(sig)
	}
	sig := unhex(t, v.Signature)
	if err := VerifyApproval(&key.PublicKey, a, sig); err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	digest := sha256.Sum256(enc)
	if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
		t.Fatalf("%s: signature is not over SHA-256 of the encoding", v.Name)
	}
	v.DevicePublic, v.Encoding, v.Digest = hex.EncodeToString(pointOf(t, &key.PublicKey)), hex.EncodeToString(enc), hex.EncodeToString(digest[:])
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func sha256Of(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func hmacOf(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

func gcmSeal(t testing.TB, key, nonce, ad, pt []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return gcm.Seal(bytes.Clone(ad), nonce, pt, ad)
}

func ecdsaKey(t testing.TB, point []byte) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func expectEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s from the package differs from the specification:\n got %x\nwant %x", what, got, want)
	}
}

// The specification quotes the first vector and names every label; a rewritten vector
// file or a changed label must change the document too.
func TestProtocolDocMatchesVectors(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/device-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	file := loadVectors(t)
	v := file.Handshakes[0]
	quoted := []string{
		v.ServerStaticPrivate, v.DevicePrivate, v.DeviceID, v.ClientEphemeralPrivate, v.ClientNonce,
		v.ServerEphemeralPrivate, v.ServerNonce, v.ServerKeyFingerprint, v.SharedSecret, v.TH1,
		v.HandshakePRK, v.HandshakeS2DKey, v.HandshakeS2DIV, v.TH2, v.TH3, v.Binding,
		v.Frames[0].Frame, v.Frames[0].Nonce, file.Approvals[1].Digest,
		labelServerSignature, labelDeviceSignature, hex.EncodeToString([]byte(approvalLabel)),
		infoHandshake, infoApplication,
	}
	for _, q := range quoted {
		if !bytes.Contains(doc, []byte(q)) {
			t.Errorf("docs/device-protocol.md does not quote %s", q)
		}
	}
}
