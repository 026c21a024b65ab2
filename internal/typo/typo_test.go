package typo

import "testing"

func TestClosest(t *testing.T) {
	known := []string{"interval", "path", "port", "timeout"}
	tests := []struct {
		name   string
		want   string
		wantOK bool
	}{
		{"intervl", "interval", true},
		{"prot", "port", true},
		{"timout", "timeout", true},
		{"colour", "", false},
		{"pathpathpath", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := Closest(tt.name, known)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Closest(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.wantOK)
		}
	}
}
