package procstat

import "testing"

func TestParseRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    uint64
		wantErr bool
	}{
		{"present", "Name:\tx\nVmPeak:\t 900 kB\nVmRSS:\t   1234 kB\nThreads:\t4\n", 1234 * 1024, false},
		{"absent", "Name:\tx\n", 0, true},
		{"garbled", "VmRSS:\tlots kB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRSS([]byte(tt.status))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseRSS = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestRead(t *testing.T) {
	u, err := Read(true)
	if err != nil {
		t.Fatal(err)
	}
	if u.CPU <= 0 || u.HeapInuse == 0 || u.HeapLive == 0 || u.RSS == 0 {
		t.Errorf("Read(true) = %+v, want every figure above zero", u)
	}
}
