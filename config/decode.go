package config

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// decode reads a TOML document onto cfg and returns every fault in it at
// once: each unknown key and each value of the wrong type, in words an admin
// reads ("must be a whole number, not the string \"50\""). go-toml's strict
// decoder stops at the first wrong type, so the document is read into a
// generic tree first and laid onto Config's fields here. A key at fault
// keeps its default, so that Validate still judges the rest. Only a file
// that is not TOML at all stops at its first fault: past a syntax error
// there is no document to walk, and wellFormed is false.
func decode(data []byte, cfg *Config) (f Faults, wellFormed bool) {
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return syntaxFault(err), false
	}
	f.table("", doc, reflect.ValueOf(cfg).Elem())
	return f, true
}

func syntaxFault(err error) Faults {
	var dec *toml.DecodeError
	if errors.As(err, &dec) {
		row, col := dec.Position()
		return Faults{{Key: fmt.Sprintf("line %d, column %d", row, col), Msg: "not valid TOML: " + strings.TrimPrefix(dec.Error(), "toml: ")}}
	}
	return Faults{{Key: "file", Msg: "not valid TOML: " + err.Error()}}
}

// table lays a TOML table onto a struct, field by field in the struct's
// order, then names every key the struct has no field for.
func (f *Faults) table(prefix string, tbl map[string]any, dst reflect.Value) {
	known := map[string]bool{}
	t := dst.Type()
	for i := range t.NumField() {
		name := tomlName(t.Field(i))
		if name == "" {
			continue
		}
		known[name] = true
		if v, ok := tbl[name]; ok {
			f.value(join(prefix, name), v, dst.Field(i))
		}
	}
	var unknown []string
	for name := range tbl {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		f.add(join(prefix, name), "unknown key; check its spelling against sigill.example.toml")
	}
}

func tomlName(field reflect.StructField) string {
	if !field.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(field.Tag.Get("toml"), ",")
	if name == "-" || name == "" {
		return ""
	}
	return name
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType    = reflect.TypeFor[Duration]()
)

// value sets dst from one TOML value, or adds the fault and leaves dst as
// it was.
func (f *Faults) value(key string, v any, dst reflect.Value) {
	if reflect.PointerTo(dst.Type()).Implements(textUnmarshaler) {
		s, ok := v.(string)
		if !ok {
			f.add(key, "must be %s, not %s", expected(dst.Type()), describe(v))
			return
		}
		if err := dst.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			f.add(key, "%q: %v", s, err)
		}
		return
	}
	wrong := func() { f.add(key, "must be %s, not %s", expected(dst.Type()), describe(v)) }
	switch dst.Kind() {
	case reflect.Struct:
		tbl, ok := v.(map[string]any)
		if !ok {
			wrong()
			return
		}
		f.table(key, tbl, dst)
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			wrong()
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			wrong()
			return
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(int64)
		if !ok {
			wrong()
			return
		}
		if dst.OverflowInt(n) {
			f.add(key, "%d is too large a number", n)
			return
		}
		dst.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(int64)
		if !ok || n < 0 {
			wrong()
			return
		}
		if dst.OverflowUint(uint64(n)) {
			f.add(key, "%d is too large a number", n)
			return
		}
		dst.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		switch n := v.(type) {
		case int64:
			dst.SetFloat(float64(n))
		case float64:
			dst.SetFloat(n)
		default:
			wrong()
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			wrong()
			return
		}
		// The list is set only when every element fits: half a list of
		// trusted networks would be worse than the default.
		out := reflect.MakeSlice(dst.Type(), len(list), len(list))
		before := len(*f)
		for i, e := range list {
			f.value(fmt.Sprintf("%s[%d]", key, i), e, out.Index(i))
		}
		if len(*f) == before {
			dst.Set(out)
		}
	default:
		// A Config field of a kind this walk does not know: a fault of the
		// program, named so that a test finds it.
		f.add(key, "cannot be read into a Go %s; sigill's config package must learn this type", dst.Type())
	}
}

// expected says in words what a field of type t takes.
func expected(t reflect.Type) string {
	if t == durationType {
		return `a duration in quotes, such as "2m" or "720h"`
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "text in quotes"
	}
	switch t.Kind() {
	case reflect.Struct:
		return "a table"
	case reflect.String:
		return "text in quotes"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, zero or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return `a list in brackets, such as ["a", "b"]`
		}
		return "a list in brackets, of " + expected(t.Elem())
	}
	return t.String()
}

// describe names a TOML value as the admin wrote it.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case int64:
		return fmt.Sprintf("the number %d", v)
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Sprintf("the number %v", v)
		}
		return fmt.Sprintf("the number %s", strings.TrimRight(fmt.Sprintf("%f", v), "0"))
	case bool:
		return fmt.Sprintf("%t", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	case time.Time, toml.LocalDate, toml.LocalDateTime, toml.LocalTime:
		return fmt.Sprintf("the date or time %v", v)
	}
	return fmt.Sprintf("%v", v)
}
