package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable Signet reads.
const EnvPrefix = "SIGNET_"

// envIgnored are SIGNET_* variables that are not configuration keys.
var envIgnored = []string{"SIGNET_CONFIG", "SIGNET_TEST_"}

// Problem is one configuration error. Key is the YAML key or environment variable at fault.
type Problem struct {
	Key string
	Msg string
}

func (p Problem) String() string { return p.Key + ": " + p.Msg }

// Problems is every problem found; it is an error when non-empty.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Err returns ps as an error, or nil when there is no problem.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Field describes one configuration key: where it comes from and what it means.
type Field struct {
	YAML   string // dotted YAML key, e.g. listeners.public.addr
	Env    string // environment variable, e.g. SIGNET_PUBLIC_ADDR
	Secret bool   // also read from <Env>_FILE and <yaml>_file
	Doc    string
	index  []int
}

// Fields lists every configuration key in declaration order.
func Fields() []Field {
	var out []Field
	walkFields(reflect.TypeOf(Config{}), nil, "", EnvPrefix, &out)
	return out
}

func walkFields(t reflect.Type, index []int, yamlPath, envPath string, out *[]Field) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		y := f.Tag.Get("yaml")
		if y == "-" || y == "" {
			continue
		}
		key := y
		if yamlPath != "" {
			key = yamlPath + "." + y
		}
		env := envPath
		if e := f.Tag.Get("env"); e != "" {
			env = envPath + e + "_"
		}
		idx := append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			walkFields(f.Type, idx, key, env, out)
			continue
		}
		*out = append(*out, Field{
			YAML:   key,
			Env:    strings.TrimSuffix(env, "_"),
			Secret: f.Tag.Get("secret") == "true",
			Doc:    f.Tag.Get("doc"),
			index:  idx,
		})
	}
}

// Load builds the configuration from the defaults, then the YAML file (if file is not
// empty), then the SIGNET_* variables in environ. It returns every problem it met; the
// result still has to pass Validate.
func Load(file string, environ []string, dev bool) (Config, Problems) {
	cfg := Default(dev)
	var ps Problems
	fields := Fields()
	if file != "" {
		ps = append(ps, loadFile(&cfg, file, fields)...)
	}
	ps = append(ps, loadEnv(&cfg, environ, fields)...)
	return cfg, ps
}

func loadFile(cfg *Config, file string, fields []Field) Problems {
	raw, err := os.ReadFile(file)
	if err != nil {
		return Problems{{Key: file, Msg: "cannot read configuration file: " + err.Error()}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return Problems{{Key: file, Msg: "not valid YAML: " + err.Error()}}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind == yaml.MappingNode && len(doc.Content[0].Content) == 0 {
		return nil // an empty file configures nothing
	}
	if doc.Content[0].Kind != yaml.MappingNode {
		return Problems{{Key: file, Msg: "the top level must be a mapping of keys to values"}}
	}
	byYAML := map[string]Field{}
	for _, f := range fields {
		byYAML[f.YAML] = f
	}
	var ps Problems
	seen := map[string]bool{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i].Value, n.Content[i+1]
			if path != "" {
				key = path + "." + key
			}
			at := fmt.Sprintf("%s (line %d)", key, n.Content[i].Line)
			f, ok := byYAML[key]
			fileRef := false
			if base, isFile := strings.CutSuffix(key, "_file"); !ok && isFile && byYAML[base].Secret {
				f, ok, fileRef = byYAML[base], true, true
			}
			switch {
			case !ok && !isPrefixOfField(key, fields):
				ps = append(ps, Problem{Key: at, Msg: "unknown key"}) // the whole section, once
				continue
			case !ok && val.Kind == yaml.MappingNode:
				walk(val, key)
				continue
			case !ok && val.Tag != "!!null":
				ps = append(ps, Problem{Key: at, Msg: "must be a mapping"})
				continue
			case !ok:
				continue // an empty section
			}
			if seen[f.YAML] {
				ps = append(ps, Problem{Key: at, Msg: "set more than once (directly and through a _file key)"})
				continue
			}
			seen[f.YAML] = true
			v, err := scalarText(val)
			if err == nil && fileRef {
				v, err = readFile(v)
			}
			if err == nil {
				err = setField(cfg, f, v)
			}
			if err != nil {
				ps = append(ps, Problem{Key: at, Msg: err.Error()})
			}
		}
	}
	walk(doc.Content[0], "")
	return ps
}

func isPrefixOfField(key string, fields []Field) bool {
	for _, f := range fields {
		if strings.HasPrefix(f.YAML, key+".") {
			return true
		}
	}
	return false
}

// scalarText turns a YAML scalar or a sequence of scalars into the text form the
// environment would carry (sequences become comma-separated).
func scalarText(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "", nil
		}
		return n.Value, nil
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return "", errors.New("list items must be plain values")
			}
			parts = append(parts, c.Value)
		}
		return strings.Join(parts, ","), nil
	default:
		return "", errors.New("must be a plain value")
	}
}

func loadEnv(cfg *Config, environ []string, fields []Field) Problems {
	byEnv := map[string]Field{}
	for _, f := range fields {
		byEnv[f.Env] = f
	}
	vals := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, EnvPrefix) {
			vals[k] = v
		}
	}
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names)
	var ps Problems
	for _, k := range names {
		v := vals[k]
		if ignoredEnv(k) {
			continue
		}
		f, ok := byEnv[k]
		if !ok {
			base, isFile := strings.CutSuffix(k, "_FILE")
			if bf, found := byEnv[base]; isFile && found && bf.Secret {
				if _, inline := vals[base]; inline {
					ps = append(ps, Problem{Key: k, Msg: "set together with " + base + "; use one"})
					continue
				}
				content, err := readFile(v)
				if err == nil {
					err = setField(cfg, bf, content)
				}
				if err != nil {
					ps = append(ps, Problem{Key: k, Msg: err.Error()})
				}
				continue
			}
			ps = append(ps, Problem{Key: k, Msg: "unknown environment variable"})
			continue
		}
		if err := setField(cfg, f, v); err != nil {
			ps = append(ps, Problem{Key: k, Msg: err.Error()})
		}
	}
	return ps
}

func ignoredEnv(k string) bool {
	for _, p := range envIgnored {
		if k == p || (strings.HasSuffix(p, "_") && strings.HasPrefix(k, p)) {
			return true
		}
	}
	return false
}

func setField(cfg *Config, f Field, s string) error {
	v := reflect.ValueOf(cfg).Elem().FieldByIndex(f.index)
	switch v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("not a duration (like 15s or 2m): %q", s)
		}
		v.SetInt(int64(d))
	case string:
		v.SetString(s)
	case bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("not a boolean (true or false): %q", s)
		}
		v.SetBool(b)
	case int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		v.SetInt(int64(n))
	case []string:
		var list []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported configuration type %s", v.Type())
	}
	return nil
}

// DefaultText renders the default of a key as docs/configuration.md shows it.
func DefaultText(f Field) string {
	def := Default(false)
	v := reflect.ValueOf(&def).Elem().FieldByIndex(f.index)
	switch x := v.Interface().(type) {
	case []string:
		return strings.Join(x, ",")
	case time.Duration:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}
