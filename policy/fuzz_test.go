package policy

import (
	"errors"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that it returns
// either a config or Errors, never both and never another kind of error.
func FuzzParse(f *testing.F) {
	seeds := []string{
		goodConfig,
		minimal,
		"",
		"- a\n- b\n",
		"discovery: {file: {path: c.yaml}}\n---\npools: {}\n",
		"pools:\n  gpu: &a\n    <<: *a\n",
		"pools: &p\n  gpu: *p\n",
		"listeners:\n  - {port: 99999999999, routes: [{timeout: 15}]}\n",
		"pools: {gpu: {balancing: {policy: maglev, table_size: 18446744073709551615}}}\n",
		"scaler: {pools: {gpu: {min: -9223372036854775808, tolerance: .nan}}}\n",
		"? [a, b]\n: c\n",
		"discovery: !!binary aGVsbG8=\n",
		"a: &a [*a, *a]\nlisteners: &l [{routes: *l}, *l]\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		cfg, err := Parse("fuzz.yaml", []byte(data))
		if err == nil {
			if cfg == nil {
				t.Fatal("Parse returned neither a config nor an error")
			}
			return
		}
		if cfg != nil {
			t.Fatal("Parse returned a config with an error")
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("Parse returned %T, want non-empty Errors: %v", err, err)
		}
		for _, e := range errs {
			if e.Line < 1 {
				t.Fatalf("problem without a line: %v", e)
			}
		}
	})
}
