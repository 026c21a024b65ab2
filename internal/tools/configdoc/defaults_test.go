package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFormatValue(t *testing.T) {
	d := 15 * time.Second
	var nilDuration *time.Duration
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"zero duration", time.Duration(0), ""},
		{"duration", 90 * time.Second, "1m30s"},
		{"nil pointer", nilDuration, ""},
		{"pointer to duration", &d, "15s"},
		{"empty string", "", ""},
		{"string", "least_request", "least_request"},
		{"false", false, ""},
		{"true", true, "true"},
		{"zero int", 0, ""},
		{"uint32", uint32(65537), "65537"},
		{"whole float", 1.0, "1"},
		{"fraction", 0.1, "0.1"},
		{"list of strings", []string{"*"}, `["*"]`},
		{"empty list", []string{}, ""},
		{"list of durations", []time.Duration{0, time.Second}, "[0s, 1s]"},
		{"map", map[string]uint32{"t4": 1, "a100": 3}, "{a100: 3, t4: 1}"},
		{"empty map", map[string]uint32{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatValue(reflect.ValueOf(tt.value)); got != tt.want {
				t.Errorf("formatValue(%#v) = %q, want %q", tt.value, got, tt.want)
			}
		})
	}
}

func TestAgree(t *testing.T) {
	f := field{steps: []step{{kind: stepField, name: "x"}}}
	v := func(x any) reflect.Value { return reflect.ValueOf(x) }
	tests := []struct {
		name    string
		samples []sample
		want    string
		wantErr string
	}{
		{"one value", []sample{{value: v(2)}, {value: v(2)}}, "2", ""},
		{"empty where the default does not apply",
			[]sample{{value: v(0)}, {value: v(2)}}, "2", ""},
		{"written values are not defaults",
			[]sample{{value: v(7), written: true}, {value: v(2)}}, "2", ""},
		{"only written", []sample{{value: v(7), written: true}}, "", ""},
		{"disagreement",
			[]sample{{value: v(2)}, {value: v(3)}}, "", "different defaults (2, 3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := agree(f, tt.samples)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("agree() error = %v, want %q", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("agree() error = %v", err)
			case got != tt.want:
				t.Errorf("agree() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReadDefaultsSwitchesSectionsOn reads defaults with the file probe
// alone, which writes no optional pool section: a section that validates
// when empty is switched on by itself, one with required fields is
// reported.
func TestReadDefaultsSwitchesSectionsOn(t *testing.T) {
	s, err := loadSchema(filepath.Join(testRoot(t), "policy"))
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.fields("Config")
	if err != nil {
		t.Fatal(err)
	}
	var fileProbe []probeConfig
	for _, p := range probes {
		if p.name == "file.yaml" {
			fileProbe = append(fileProbe, p)
		}
	}
	if len(fileProbe) != 1 {
		t.Fatal("no probe named file.yaml")
	}

	tests := []struct {
		path, want, wantErr string
	}{
		{path: "xds.listen", want: "127.0.0.1:18000"},
		{path: "pools.<name>.service", want: ""},
		{path: "pools.<name>.outlier_detection.interval", want: "10s"},
		{path: "pools.<name>.outlier_detection.max_ejection_percent", want: "50"},
		{path: "pools.<name>.health_check.interval",
			wantErr: "pools.<name>.health_check switched on with nothing written does not validate"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var pick []field
			for _, f := range all {
				if f.path() == tt.path {
					pick = append(pick, f)
				}
			}
			if len(pick) != 1 {
				t.Fatalf("no field %s", tt.path)
			}
			got, err := readDefaults(pick, fileProbe)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("readDefaults() error = %v, want %q", err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("readDefaults() error = %v", err)
			case got[tt.path] != tt.want:
				t.Errorf("default of %s = %q, want %q", tt.path, got[tt.path], tt.want)
			}
		})
	}
}

func TestReadExamples(t *testing.T) {
	src := "# Header comment of the file.\n\nfirst:\n  a: 1\n  # inside\n  b: 2\n\n" +
		"# Introduces second.\nsecond: {c: 3}\nthird:\n  - x\n"
	path := filepath.Join(t.TempDir(), "ex.yaml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readExamples(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"first":  "first:\n  a: 1\n  # inside\n  b: 2",
		"second": "second: {c: 3}",
		"third":  "third:\n  - x",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readExamples = %#v, want %#v", got, want)
	}
}
