package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadSource parses src as the one file p.go of a package.
func loadSource(t *testing.T, src string) *schema {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := loadSchema(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const shapesSource = `package p

import "time"

// Config is the root.
type Config struct {
	// Name is a string.
	Name string ` + "`yaml:\"name\"`" + `
	// Skip is not in the YAML.
	Skip string ` + "`yaml:\"-\"`" + `
	// hidden is unexported.
	hidden int
	// Untagged takes its lower-cased name.
	Untagged bool
	// Wait is an optional duration.
	Wait *time.Duration ` + "`yaml:\"wait,omitempty\"`" + `
	// Items are sections in a list.
	Items []*Item ` + "`yaml:\"items\"`" + `
	// ByName are sections by key.
	ByName map[string]Item ` + "`yaml:\"by_name\"`" + `
	// Opt is an optional section.
	Opt *Item ` + "`yaml:\"opt,omitempty\"`" + `
	// Mode is a named string.
	Mode Mode ` + "`yaml:\"mode\"`" + `
	// Counts map names to numbers.
	Counts map[string]uint32 ` + "`yaml:\"counts\"`" + `
	// Tags are strings.
	Tags []string ` + "`yaml:\"tags\"`" + `
}

// Mode is a named string.
type Mode string

// Item is a section.
type Item struct {
	// Ratio is a float.
	Ratio float64 ` + "`yaml:\"ratio\"`" + `
}
`

func TestFieldsWalksShapes(t *testing.T) {
	fields, err := loadSource(t, shapesSource).fields("Config")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fields {
		got = append(got, f.path()+" : "+f.typ)
	}
	want := []string{
		"name : string",
		"untagged : bool",
		"wait : duration",
		"items : list of sections",
		"items[].ratio : number",
		"by_name : map of sections",
		"by_name.<name>.ratio : number",
		"opt : optional section",
		"opt.ratio : number",
		"mode : string",
		"counts : map of integers",
		"tags : list of strings",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("fields:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// withRoot returns a package whose type Config holds body, from line 5 on,
// followed by more declarations.
func withRoot(body, more string) string {
	return "package p\n\n// Config is the root.\ntype Config struct {\n" + body + "\n}\n\n" + more
}

func TestFieldsRejects(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{
			name: "field without doc comment",
			src:  withRoot("\tBare string", ""),
			want: "p.go:5: field Config.Bare has no doc comment",
		},
		{
			name: "embedded field",
			src:  withRoot("\t// Item is embedded.\n\tItem", "// Item is a part.\ntype Item struct{}\n"),
			want: "p.go:6: embedded field in Config",
		},
		{
			name: "unsupported type",
			src:  withRoot("\t// C is a channel.\n\tC chan int", ""),
			want: "p.go:6: field Config.C: type *ast.ChanType is not supported",
		},
		{
			name: "list of lists",
			src:  withRoot("\t// L nests.\n\tL [][]string", ""),
			want: "lists and maps inside lists or maps are not supported",
		},
		{
			name: "map without string keys",
			src:  withRoot("\t// M maps.\n\tM map[int]string", ""),
			want: "maps need string keys",
		},
		{
			name: "type that contains itself",
			src:  withRoot("\t// Next loops.\n\tNext *Config `yaml:\"next\"`", ""),
			want: "type Config contains itself",
		},
		{
			name: "no root type",
			src:  "package p\n\n// Other is not the root.\ntype Other struct{}\n",
			want: "type Config: no struct of that name",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadSource(t, tt.src).fields("Config")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("fields() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

const describeSource = `package p

// DefaultOn is a default.
const DefaultOn = "a,b"

// Outer holds Inner.
type Outer struct {
	// Period is a field.
	Period int ` + "`yaml:\"period\"`" + `
	// Inner is a section.
	Inner Inner ` + "`yaml:\"inner\"`" + `
}

// Inner is a section.
type Inner struct {
	// MaxStep is a field.
	MaxStep int ` + "`yaml:\"max_step\"`" + `
	// TLS is a field.
	TLS string ` + "`yaml:\"tls\"`" + `
	// Consul is a field.
	Consul string ` + "`yaml:\"consul\"`" + `
	// Hidden is left out.
	Hidden string ` + "`yaml:\"-\"`" + `
}
`

func TestDescribe(t *testing.T) {
	s := loadSource(t, describeSource)
	inner := []string{"Inner", "Outer"}
	tests := []struct {
		name, text, self, want string
		owners                 []string
	}{
		{"own name leads", "MaxStep caps it.", "MaxStep", "`max_step` caps it.", inner},
		{"sibling", "MaxStep, per\nPeriod.", "MaxStep", "`max_step`, per `period`.", inner},
		{"field of an outer type", "Whatever Period says.", "", "Whatever `period` says.", inner},
		{"capitals only where they lead", "TLS, when set, speaks TLS.", "TLS",
			"`tls`, when set, speaks TLS.", inner},
		{"plain word only where it leads", "Consul reads a Consul agent.", "Consul",
			"`consul` reads a Consul agent.", inner},
		{"plain word that does not lead", "Uses Consul.", "MaxStep", "Uses Consul.", inner},
		{"type and field", "As in Outer.Period.", "", "As in `period`.", inner},
		{"unknown type and field", "See path.Match.", "", "See path.Match.", inner},
		{"string constant", "Default DefaultOn.", "", "Default `a,b`.", inner},
		{"field not in the YAML", "Hidden stays.", "", "Hidden stays.", inner},
		{"code span is literal", "Runs `MaxStep <x>` as is.", "", "Runs `MaxStep <x>` as is.", inner},
		{"markdown escapes", "xds:///<pool>, a|b, *x*, '_' and snake_case.", "",
			`xds:///\<pool>, a\|b, \*x\*, '\_' and snake_case.`, inner},
		{"pipe in a code span", "Use `a|b`.", "", "Use `a\\|b`.", inner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.describe(tt.text, tt.owners, tt.self); got != tt.want {
				t.Errorf("describe(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

const sectionSource = `package p

// Config is the root.
type Config struct {
	// Breakers cap things.
	Breakers *Breakers ` + "`yaml:\"breakers\"`" + `
	// Rules are tried in order.
	Rules []Rule ` + "`yaml:\"rules\"`" + `
	// Same holds the settings.
	Same Same ` + "`yaml:\"same\"`" + `
}

// Breakers are the thresholds. A zero Max leaves the default.
type Breakers struct {
	// Max caps.
	Max int ` + "`yaml:\"max\"`" + `
}

// Rule grants access.
type Rule struct {
	// Name names.
	Name string ` + "`yaml:\"name\"`" + `
}

// Same holds the settings.
type Same struct {
	// On turns it on.
	On bool ` + "`yaml:\"on\"`" + `
}
`

func TestSectionDoc(t *testing.T) {
	fields, err := loadSource(t, sectionSource).fields("Config")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"breakers": "`breakers` cap things. This section holds the thresholds. " +
			"A zero `max` leaves the default.",
		"rules": "`rules` are tried in order. Each entry grants access.",
		"same":  "`same` holds the settings.",
	}
	seen := 0
	for _, f := range fields {
		if w, ok := want[f.path()]; ok {
			seen++
			if f.doc != w {
				t.Errorf("%s: doc = %q, want %q", f.path(), f.doc, w)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of the %d sections", seen, len(want))
	}
}
