package marionette

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

// TestReadMessage: a message is its length, a colon and that many bytes; anything else
// is refused.
func TestReadMessage(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`2:{}`, `{}`, true},
		{`0:`, ``, true},
		{`7:[1,2,3]rest`, `[1,2,3]`, true},
		{`5:{}`, ``, false},    // short
		{`x:{}`, ``, false},    // not a length
		{`-1:{}`, ``, false},   // negative
		{`{"a":1}`, ``, false}, // no length at all
	} {
		got, err := readMessage(bufio.NewReader(strings.NewReader(tc.in)))
		if (err == nil) != tc.ok || string(got) != tc.want {
			t.Errorf("readMessage(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// TestCall: against a fake Firefox, a command goes out as [0, id, name, params]; a late
// answer to an earlier command is passed over; an error answer becomes an *Error with
// WebDriver's code.
func TestCall(t *testing.T) {
	client, server := net.Pipe()
	t.Cleanup(func() { _ = client.Close(); _ = server.Close() })
	b := &Browser{t: t, conn: client, r: bufio.NewReader(client)}
	got := make(chan []json.RawMessage, 2)
	go func() {
		r := bufio.NewReader(server)
		for _, answer := range []func(id int) string{
			func(id int) string { // a stale answer first, then the right one
				return fmt.Sprintf(`[1,%d,null,{"value":"old"}][1,%d,null,{"value":"https://example.test/"}]`, id-1, id)
			},
			func(id int) string {
				return fmt.Sprintf(`[1,%d,{"error":"no such element","message":"Unable to locate element: #x"},null]`, id)
			},
		} {
			raw, err := readMessage(r)
			if err != nil {
				return
			}
			var cmd []json.RawMessage
			_ = json.Unmarshal(raw, &cmd)
			got <- cmd
			var id int
			_ = json.Unmarshal(cmd[1], &id)
			msgs := answer(id)
			// Split the two messages of the first answer the way Firefox frames them.
			for _, m := range strings.SplitAfter(msgs, "}]") {
				if m != "" {
					_, _ = fmt.Fprintf(server, "%d:%s", len(m), m)
				}
			}
		}
	}()

	res, err := b.Call("WebDriver:GetCurrentURL", nil)
	if err != nil || string(value(res)) != `"https://example.test/"` {
		t.Fatalf("GetCurrentURL: %s, %v", res, err)
	}
	if cmd := <-got; string(cmd[0]) != "0" || string(cmd[2]) != `"WebDriver:GetCurrentURL"` || string(cmd[3]) != "{}" {
		t.Errorf("the command went out as %s", cmd)
	}
	_, err = b.Call("WebDriver:FindElement", map[string]any{"using": "css selector", "value": "#x"})
	var e *Error
	if !errors.As(err, &e) || e.Code != "no such element" {
		t.Fatalf("FindElement of nothing: %v", err)
	}
	if cmd := <-got; string(cmd[3]) != `{"using":"css selector","value":"#x"}` {
		t.Errorf("the parameters went out as %s", cmd[3])
	}
}
