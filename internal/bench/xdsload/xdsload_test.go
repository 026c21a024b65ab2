package xdsload

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestMainUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no command", nil, 2, "usage: xdsload"},
		{"unknown command", []string{"bench"}, 2, `unknown command "bench"`},
		{"help", []string{"help"}, 0, ""},
		{"flag help", []string{"run", "-h"}, 2, "-changes"},
		{"bad impl", []string{"run", "--impl", "envoy"}, 2, `impl: unknown "envoy"`},
		{"bad mode", []string{"run", "--mode", "rest"}, 2, `mode: unknown "rest"`},
		{"bad fleet", []string{"run", "--pools", "0"}, 2, "pools: 0 is not within"},
		{"stray argument", []string{"run", "extra"}, 2, "unexpected arguments: extra"},
		{"clients without addr", []string{"clients"}, 2, "addr: empty"},
		{"clients bad mode", []string{"clients", "--addr", "x:1", "--mode", "rest"}, 2, `mode: "rest"`},
		{"server bad impl", []string{"server", "--impl", "envoy"}, 1, `impl: "envoy"`},
		{"server bad log level", []string{"server", "--log-level", "loud"}, 2, "log level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, stderr.String())
			}
		})
	}
}
