package policy

import (
	"math"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeFor[time.Duration]()

// scalar decodes a single value into a string, bool or number. A quoted
// number is a string, and a string is never taken for a number.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "", "want %s, got %s", scalarWant(v.Type()), kindName(n.Kind))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		d.boolean(n, v, path)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.integer(n, v, path)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.unsigned(n, v, path)
	case reflect.Float32, reflect.Float64:
		d.float(n, v, path)
	default:
		d.fail(n, path, n.Value, "cannot hold a value of Go type %s", v.Type())
	}
}

// scalarWant describes what a field of type t takes, for error messages.
func scalarWant(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration such as "15s"`
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	}
	return "a whole number"
}

// duration decodes a Go duration string. A bare number is refused: it is
// unclear whether 15 means seconds or nanoseconds.
func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "", "want %s, got %s", scalarWant(durationType), kindName(n.Kind))
		return
	}
	if tag := n.ShortTag(); tag == "!!int" || tag == "!!float" {
		d.fail(n, path, n.Value, `want a duration with a unit, such as "15s", got %q`, n.Value)
		return
	}
	dur, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		d.fail(n, path, n.Value, `want a duration such as "15s", got %q`, n.Value)
		return
	}
	if dur < 0 {
		d.fail(n, path, n.Value, "must not be negative, got %q", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) boolean(n *yaml.Node, v reflect.Value, path string) {
	var b bool
	if n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		d.fail(n, path, n.Value, "want true or false, got %q", n.Value)
		return
	}
	v.SetBool(b)
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string) {
	var i int64
	if n.ShortTag() != "!!int" {
		d.fail(n, path, n.Value, "want a whole number, got %q", n.Value)
		return
	}
	bits := v.Type().Bits()
	lo, hi := int64(-1)<<(bits-1), int64(uint64(1)<<(bits-1)-1)
	if n.Decode(&i) != nil || v.OverflowInt(i) {
		d.fail(n, path, n.Value, "want a whole number from %d to %d, got %q", lo, hi, n.Value)
		return
	}
	v.SetInt(i)
}

func (d *decoder) unsigned(n *yaml.Node, v reflect.Value, path string) {
	if n.ShortTag() != "!!int" {
		d.fail(n, path, n.Value, "want a whole number, got %q", n.Value)
		return
	}
	var u uint64
	var i int64
	switch {
	case n.Decode(&u) == nil && !v.OverflowUint(u):
		v.SetUint(u)
	case n.Decode(&i) == nil && i < 0:
		d.fail(n, path, n.Value, "must not be negative, got %q", n.Value)
	default:
		hi := uint64(math.MaxUint64) >> (64 - v.Type().Bits())
		d.fail(n, path, n.Value, "want a whole number from 0 to %d, got %q", hi, n.Value)
	}
}

func (d *decoder) float(n *yaml.Node, v reflect.Value, path string) {
	var f float64
	tag := n.ShortTag()
	if tag != "!!int" && tag != "!!float" || n.Decode(&f) != nil {
		d.fail(n, path, n.Value, "want a number, got %q", n.Value)
		return
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || v.OverflowFloat(f) {
		d.fail(n, path, n.Value, "want a finite number, got %q", n.Value)
		return
	}
	v.SetFloat(f)
}
