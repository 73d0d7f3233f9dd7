package fcmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// Failure is a scripted FCM error answer. The body is a google.rpc.Status as FCM sends
// it ("FCM error codes: REST error codes for the HTTP v1 API").
type Failure struct {
	// Status is the HTTP status; 0 takes the one the ErrorCode reference documents for
	// Code (INVALID_ARGUMENT 400, UNREGISTERED 404, SENDER_ID_MISMATCH 403,
	// QUOTA_EXCEEDED 429, UNAVAILABLE 503, INTERNAL 500, THIRD_PARTY_AUTH_ERROR 401).
	Status int
	// Code is the FCM ErrorCode carried in a google.firebase.fcm.v1.FcmError detail;
	// empty sends no FcmError detail.
	Code string
	// Field, if not empty, adds a google.rpc.BadRequest detail with a field violation on
	// it, as FCM sends for a bad payload value (for example "message.android.ttl").
	Field string
	// RetryAfter is sent as the Retry-After header when not empty.
	RetryAfter string
	// Message is the error message; empty takes a default for Code.
	Message string
}

// Request is one request the FCM endpoint received, and how it answered.
type Request struct {
	Proto  string // "HTTP/2.0" for a client speaking HTTP/2
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// Status is the HTTP status the fake answered with.
	Status int
	// ValidateOnly is the request's validate_only flag.
	ValidateOnly bool
	// Message is the decoded message, as far as the body could be read.
	Message Message
}

// Message is what a send request asked FCM to deliver (FCM HTTP v1
// projects.messages resource: Message).
type Message struct {
	Token, Topic, Condition string
	Data                    map[string]string
	// Notification, WebPush and APNs report whether those blocks were present.
	Notification, WebPush, APNs bool
	// Android is the android block, nil when absent.
	Android *Android
}

// Android is a message's AndroidConfig.
type Android struct {
	Priority    string
	TTL         string
	CollapseKey string
	Data        map[string]string
	// Notification reports whether android.notification was present.
	Notification bool
}

// maxPayload is FCM's limit on a message's data, keys and values together (ErrorCode
// INVALID_ARGUMENT "Message too big": 4096 bytes for most messages).
const maxPayload = 4096

// maxTTLSeconds is FCM's longest ttl: 4 weeks (ErrorCode INVALID_ARGUMENT "Invalid TTL").
const maxTTLSeconds = 2419200

var (
	sendPath = regexp.MustCompile(`^/v1/projects/([^/]+)/messages:send$`)
	// A registration token is base64url text with ':' separating its parts; anything
	// else is "not a valid FCM registration token".
	tokenChars = regexp.MustCompile(`^[A-Za-z0-9_:\-]+$`)
	// google.protobuf.Duration in JSON: seconds with up to nine fractional digits and
	// the suffix "s" (AndroidConfig.ttl; proto3 JSON mapping).
	durationJSON = regexp.MustCompile(`^(\d+)(\.\d{1,9})?s$`)
)

// Known field names, in both spellings the proto3 JSON mapping accepts.
var (
	requestFields = fields("message", "validate_only", "validateOnly")
	messageFields = fields("name", "data", "notification", "android", "webpush", "apns",
		"fcm_options", "fcmOptions", "token", "topic", "condition")
	androidFields = fields("collapse_key", "collapseKey", "priority", "ttl",
		"restricted_package_name", "restrictedPackageName", "data", "notification",
		"fcm_options", "fcmOptions", "direct_boot_ok", "directBootOk",
		"bandwidth_constrained_ok", "bandwidthConstrainedOk", "restricted_satellite_ok",
		"restrictedSatelliteOk")
)

func fields(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// canonical maps an HTTP status to the google.rpc.Code name Google APIs put in "status".
func canonical(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusMethodNotAllowed:
		return "UNIMPLEMENTED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	case http.StatusInternalServerError:
		return "INTERNAL"
	}
	return "UNKNOWN"
}

// documented is the HTTP status and a message for each FCM ErrorCode, from the
// ErrorCode reference.
func documented(code string) (int, string) {
	switch code {
	case "INVALID_ARGUMENT":
		return http.StatusBadRequest, "The registration token is not a valid FCM registration token"
	case "UNREGISTERED":
		return http.StatusNotFound, "Requested entity was not found."
	case "SENDER_ID_MISMATCH":
		return http.StatusForbidden, "SenderId mismatch"
	case "QUOTA_EXCEEDED":
		return http.StatusTooManyRequests, "Quota exceeded for quota metric 'Send requests'."
	case "UNAVAILABLE":
		return http.StatusServiceUnavailable, "The service is currently unavailable."
	case "INTERNAL":
		return http.StatusInternalServerError, "Internal error encountered."
	case "THIRD_PARTY_AUTH_ERROR":
		return http.StatusUnauthorized, "Auth error from APNS or Web Push Service"
	}
	return http.StatusInternalServerError, "Unknown error."
}

// rpcError is a google.rpc.Status answer.
type rpcError struct {
	status  int
	message string
	fcmCode string // FcmError detail when not empty
	field   string // BadRequest field violation when not empty
	badReq  bool   // BadRequest detail even without a field name
}

func fcmError(code string) *rpcError {
	status, msg := documented(code)
	return &rpcError{status: status, message: msg, fcmCode: code}
}

func badRequest(field, format string, args ...any) *rpcError {
	return &rpcError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...), field: field, badReq: true}
}

func writeRPC(w http.ResponseWriter, e *rpcError) {
	details := []map[string]any{}
	if e.fcmCode != "" {
		details = append(details, map[string]any{
			"@type":     "type.googleapis.com/google.firebase.fcm.v1.FcmError",
			"errorCode": e.fcmCode,
		})
	}
	if e.badReq {
		v := map[string]string{"description": e.message}
		if e.field != "" {
			v["field"] = e.field
		}
		details = append(details, map[string]any{
			"@type":           "type.googleapis.com/google.rpc.BadRequest",
			"fieldViolations": []map[string]string{v},
		})
	}
	body := map[string]any{"code": e.status, "message": e.message, "status": canonical(e.status)}
	if len(details) > 0 {
		body["details"] = details
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if e.status == http.StatusUnauthorized && e.fcmCode == "" {
		// RFC 6750 §3: a refused bearer token is named in WWW-Authenticate.
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
	}
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]any{"error": body})
}

// serveFCM is the FCM HTTP v1 endpoint: POST /v1/projects/{project}/messages:send.
func (s *Server) serveFCM(w http.ResponseWriter, r *http.Request) {
	rec := Request{Proto: r.Proto, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
	body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	rec.Body = body
	status := s.answerFCM(w, r, body, &rec)
	rec.Status = status
	s.mu.Lock()
	s.sends++
	if len(s.requests) == maxRecorded { // drop the older half at once, not one per request
		s.requests = s.requests[:copy(s.requests, s.requests[maxRecorded/2:])]
	}
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

func (s *Server) answerFCM(w http.ResponseWriter, r *http.Request, body []byte, rec *Request) int {
	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	s.wait(r, latency)

	m := sendPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return fail(w, &rpcError{status: http.StatusNotFound, message: "Requested entity was not found."})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return fail(w, &rpcError{status: http.StatusMethodNotAllowed, message: "Method not allowed."})
	}
	// "Authorize send requests": an OAuth2 access token of a service account of the
	// project, with the firebase.messaging (or cloud-platform) scope.
	if status, msg := s.authorize(r, m[1]); status != 0 {
		return fail(w, &rpcError{status: status, message: msg})
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return fail(w, badRequest("", "Invalid JSON payload received. Content-Type must be application/json."))
	}
	msg, validateOnly, bad := parseSend(body)
	rec.Message, rec.ValidateOnly = msg, validateOnly
	if bad != nil {
		return fail(w, bad)
	}

	s.mu.Lock()
	var scripted *Failure
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		scripted = &f
	}
	unregistered := msg.Token != "" && s.unregistered[msg.Token]
	s.nextID++
	id := s.nextID
	s.mu.Unlock()

	if scripted != nil {
		return fail(w, scripted.rpc(), scripted.RetryAfter)
	}
	if unregistered {
		return fail(w, fcmError("UNREGISTERED"))
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	name := fmt.Sprintf("projects/%s/messages/0:%d%%fake", m[1], id)
	if validateOnly {
		name = fmt.Sprintf("projects/%s/messages/fake_message_id", m[1])
	}
	json.NewEncoder(w).Encode(map[string]string{"name": name})
	return http.StatusOK
}

func (f Failure) rpc() *rpcError {
	status, msg := documented(f.Code)
	if f.Code == "" {
		status, msg = http.StatusInternalServerError, "Internal error encountered."
	}
	if f.Status != 0 {
		status = f.Status
	}
	if f.Message != "" {
		msg = f.Message
	}
	return &rpcError{status: status, message: msg, fcmCode: f.Code, field: f.Field, badReq: f.Field != ""}
}

func fail(w http.ResponseWriter, e *rpcError, retryAfter ...string) int {
	if len(retryAfter) > 0 && retryAfter[0] != "" {
		w.Header().Set("Retry-After", retryAfter[0])
	}
	writeRPC(w, e)
	return e.status
}

// parseSend reads a SendMessageRequest ({"validate_only": bool, "message": Message})
// and checks it as FCM does, answering the first problem found.
func parseSend(body []byte) (Message, bool, *rpcError) {
	var msg Message
	top, bad := object(body, "", requestFields)
	if bad != nil {
		return msg, false, bad
	}
	var validateOnly bool
	for _, k := range []string{"validate_only", "validateOnly"} {
		if raw, ok := top[k]; ok {
			if err := json.Unmarshal(raw, &validateOnly); err != nil {
				return msg, false, badRequest(k, "Invalid value at '%s' (TYPE_BOOL), %s", k, raw)
			}
		}
	}
	raw, ok := top["message"]
	if !ok {
		return msg, validateOnly, badRequest("message", "Request contains an invalid argument: message is required.")
	}
	fieldsOf, bad := object(raw, "message", messageFields)
	if bad != nil {
		return msg, validateOnly, bad
	}

	// The target is a oneof: exactly one of token, topic and condition.
	var targets []string
	for _, k := range []string{"token", "topic", "condition"} {
		v, ok := fieldsOf[k]
		if !ok {
			continue
		}
		targets = append(targets, k)
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			return msg, validateOnly, badRequest("message."+k, "Invalid value at 'message.%s' (TYPE_STRING), %s", k, v)
		}
		switch k {
		case "token":
			msg.Token = str
		case "topic":
			msg.Topic = str
		case "condition":
			msg.Condition = str
		}
	}
	switch {
	case len(targets) == 0:
		return msg, validateOnly, badRequest("message", "Recipient of the message is not set.")
	case len(targets) > 1:
		return msg, validateOnly, badRequest("message",
			"Invalid value at 'message' (oneof), oneof field 'target' is already set. Cannot set '%s'", targets[1])
	}

	_, msg.Notification = fieldsOf["notification"]
	_, msg.WebPush = fieldsOf["webpush"]
	_, msg.APNs = fieldsOf["apns"]
	size := 0
	if v, ok := fieldsOf["data"]; ok {
		d, n, bad := dataMap(v, "message.data")
		if bad != nil {
			return msg, validateOnly, bad
		}
		msg.Data, size = d, size+n
	}
	if v, ok := fieldsOf["android"]; ok {
		a, n, bad := parseAndroid(v)
		if bad != nil {
			return msg, validateOnly, bad
		}
		msg.Android, size = a, size+n
	}
	if size > maxPayload {
		return msg, validateOnly, badRequest("message", "Message is too big: data payload is %d bytes, the limit is %d.", size, maxPayload)
	}
	// A token is checked after the payload: FCM answers a bad payload first.
	if msg.Token != "" && !tokenChars.MatchString(msg.Token) {
		return msg, validateOnly, fcmError("INVALID_ARGUMENT")
	}
	return msg, validateOnly, nil
}

func parseAndroid(raw json.RawMessage) (*Android, int, *rpcError) {
	f, bad := object(raw, "message.android", androidFields)
	if bad != nil {
		return nil, 0, bad
	}
	a := &Android{}
	_, a.Notification = f["notification"]
	str := func(names ...string) (string, json.RawMessage, *rpcError) {
		for _, n := range names {
			if v, ok := f[n]; ok {
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					return "", v, badRequest("message.android."+names[0], "Invalid value at 'message.android.%s' (TYPE_STRING), %s", names[0], v)
				}
				return s, v, nil
			}
		}
		return "", nil, nil
	}
	var err *rpcError
	if a.CollapseKey, _, err = str("collapse_key", "collapseKey"); err != nil {
		return nil, 0, err
	}
	if v, ok := f["priority"]; ok {
		// AndroidMessagePriority: NORMAL or HIGH, by name or number (proto3 JSON).
		var name string
		var num int
		switch {
		case json.Unmarshal(v, &name) == nil && (strings.EqualFold(name, "NORMAL") || strings.EqualFold(name, "HIGH")):
			a.Priority = strings.ToUpper(name)
		case json.Unmarshal(v, &num) == nil && (num == 0 || num == 1):
			a.Priority = [...]string{"NORMAL", "HIGH"}[num]
		default:
			return nil, 0, badRequest("message.android.priority",
				"Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), %s", v)
		}
	}
	ttl, rawTTL, err := str("ttl")
	if err != nil {
		return nil, 0, err
	}
	if rawTTL != nil {
		m := durationJSON.FindStringSubmatch(ttl)
		if m == nil {
			return nil, 0, badRequest("message.android.ttl",
				"Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), %s", rawTTL)
		}
		if secs, err := strconv.ParseInt(m[1], 10, 64); err != nil || secs > maxTTLSeconds {
			return nil, 0, badRequest("message.android.ttl", "Invalid TTL: the ttl must be between 0 and %d seconds.", maxTTLSeconds)
		}
		a.TTL = ttl
	}
	size := 0
	if v, ok := f["data"]; ok {
		d, n, bad := dataMap(v, "message.android.data")
		if bad != nil {
			return nil, 0, bad
		}
		a.Data, size = d, n
	}
	return a, size, nil
}

// dataMap reads a map<string, string> in JSON order, so a bad value is named by its
// index as FCM does ("Invalid value at 'message.data[0].value' (TYPE_STRING), 12").
func dataMap(raw json.RawMessage, path string) (map[string]string, int, *rpcError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, 0, badRequest(path, "Invalid value at '%s' (type.googleapis.com/google.protobuf.Map), %s", path, raw)
	}
	out := map[string]string{}
	size := 0
	for i := 0; dec.More(); i++ {
		kt, err := dec.Token()
		if err != nil {
			return nil, 0, badRequest(path, "Invalid JSON payload received.")
		}
		key := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, 0, badRequest(path, "Invalid JSON payload received.")
		}
		var str string
		if err := json.Unmarshal(v, &str); err != nil {
			field := fmt.Sprintf("%s[%d].value", path, i)
			return nil, 0, badRequest(field, "Invalid value at '%s' (TYPE_STRING), %s", field, v)
		}
		// ErrorCode INVALID_ARGUMENT "Invalid data key": keys FCM uses itself.
		if key == "from" || key == "gcm" || strings.HasPrefix(key, "google.") || strings.HasPrefix(key, "gcm.") {
			return nil, 0, badRequest(path, "Invalid data payload key: %s", key)
		}
		out[key] = str
		size += len(key) + len(str)
	}
	return out, size, nil
}

// object decodes a JSON object and refuses names it does not know, as Google's JSON
// transcoding does ("Invalid JSON payload received. Unknown name ...").
func object(raw []byte, path string, known map[string]bool) (map[string]json.RawMessage, *rpcError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		where := ""
		if path != "" {
			where = fmt.Sprintf(" at '%s'", path)
		}
		return nil, badRequest(path, "Invalid JSON payload received. Expected an object%s.", where)
	}
	for k := range m {
		if !known[k] {
			where := ""
			if path != "" {
				where = fmt.Sprintf(" at '%s'", path)
			}
			return nil, badRequest(path, "Invalid JSON payload received. Unknown name %q%s: Cannot find field.", k, where)
		}
	}
	return m, nil
}
