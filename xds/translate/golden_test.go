package translate

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden want.json files")

// TestGolden translates each testdata/<case>/config.yaml with the instances
// in catalog.yaml and compares the rendered resources with want.json. Run
// `go test ./xds/translate -update` to rewrite the files, then review the
// diff.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no golden cases found")
	}
	for _, cfgPath := range dirs {
		dir := filepath.Dir(cfgPath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg := loadConfig(t, cfgPath)
			cat := loadCatalog(t, filepath.Join(dir, "catalog.yaml"))

			res, err := Translate(cfg, cat)
			if err != nil {
				t.Fatalf("Translate: %v", err)
			}
			got, err := res.Render("golden")
			if err != nil {
				t.Fatalf("Render: %v", err)
			}

			wantPath := filepath.Join(dir, "want.json")
			if *update {
				if err := os.WriteFile(wantPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("rendered resources differ from %s; run with -update and "+
					"review the diff:\n%s", wantPath, cmp.Diff(string(want), string(got)))
			}
		})
	}
}
