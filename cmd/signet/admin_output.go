package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// printer writes admin API answers as a table (the default) or as JSON.
type printer struct {
	w    io.Writer
	json bool
}

func (f *adminFlags) printer(e *env) (printer, error) {
	switch f.output {
	case "table", "":
		return printer{w: e.stdout}, nil
	case "json":
		return printer{w: e.stdout, json: true}, nil
	}
	return printer{}, usageErr(fmt.Errorf("--output must be table or json, not %q", f.output))
}

// column is one column of a listing: its header and the JSON field it shows.
type column struct{ header, field string }

// object prints one resource: as JSON, or as a two-column table of its fields in the
// order the API sent them.
func (p printer) object(raw json.RawMessage) error {
	return p.objectExpanded(raw, "", nil)
}

// objectExpanded is object, but a table shows the fields of the object in field nested
// as rows of their own ("field.name"), each value rendered by show (nil: as cell does).
func (p printer) objectExpanded(raw json.RawMessage, field string, show func(name string, v json.RawMessage) string) error {
	if p.json {
		return p.indent(raw)
	}
	keys, fields, err := orderedFields(raw)
	if err != nil {
		return err
	}
	if show == nil {
		show = func(_ string, v json.RawMessage) string { return cell(v) }
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		names, nested, err := orderedFields(fields[k])
		if k != field || err != nil {
			fmt.Fprintf(tw, "%s\t%s\n", k, cell(fields[k]))
			continue
		}
		for _, n := range names {
			fmt.Fprintf(tw, "%s.%s\t%s\n", k, n, show(n, nested[n]))
		}
	}
	return tw.Flush()
}

// list prints resources: as a JSON array, or as a table of cols.
func (p printer) list(items []json.RawMessage, cols []column) error {
	if p.json {
		if items == nil {
			items = []json.RawMessage{}
		}
		data, err := json.Marshal(items)
		if err != nil {
			return err
		}
		return p.indent(data)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	headers := make([]string, len(cols))
	for i, c := range cols {
		headers[i] = c.header
	}
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, it := range items {
		_, fields, err := orderedFields(it)
		if err != nil {
			return err
		}
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = cell(fields[c.field])
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func (p printer) indent(raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := p.w.Write(buf.Bytes())
	return err
}

// orderedFields splits a JSON object into its fields, keeping their order.
func orderedFields(raw json.RawMessage) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("the admin API answered with something other than a JSON object")
	}
	var keys []string
	fields := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
		fields[k] = v
	}
	return keys, fields, nil
}

// cell renders one JSON value for a table: text as it is, lists of text joined, other
// structures as compact JSON, null and absent as nothing.
func cell(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return string(raw)
	}
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any:
		parts := make([]string, 0, len(v))
		for _, it := range v {
			s, ok := it.(string)
			if !ok {
				return compact(raw)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		if len(v) == 0 {
			return ""
		}
		return compact(raw)
	}
	return fmt.Sprint(v)
}

func compact(raw json.RawMessage) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}
