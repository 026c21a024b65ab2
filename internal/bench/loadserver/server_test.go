package loadserver

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spillway/spillway/internal/bench/fleet"
	"github.com/spillway/spillway/internal/bench/procstat"
)

// post sends a control request and decodes its JSON answer into out.
func post(t *testing.T, ctl, path string, out any) {
	t.Helper()
	resp, err := http.Post("http://"+ctl+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

func TestRunServesControl(t *testing.T) {
	for _, impl := range []string{ImplSpillway, ImplStock} {
		t.Run(impl, func(t *testing.T) {
			dir := t.TempDir()
			ready := make(chan Ready, 1)
			done := make(chan error, 1)
			spec := fleet.Spec{Pools: 5, Endpoints: 3}
			go func() {
				done <- Run(context.Background(), Options{Impl: impl, Fleet: spec,
					CPUProfile: filepath.Join(dir, "p"), Ready: func(r Ready) { ready <- r }})
			}()
			var r Ready
			select {
			case r = <-ready:
			case err := <-done:
				t.Fatalf("Run: %v", err)
			}
			if r.PerClient != 12 {
				t.Errorf("PerClient = %d, want 12", r.PerClient)
			}

			var file string
			post(t, r.Control, "/profile?phase=changes", &file)
			var a Applied
			post(t, r.Control, "/change?seq=3", &a)
			if want := spec.ChangeOf(3).Cluster(); a.Cluster != want || a.Seq != 3 ||
				a.EndNano < a.StartNano {
				t.Errorf("change answered %+v, want change 3 of %s", a, want)
			}
			post(t, r.Control, "/change?seq=4&queue=1&count=3", &a)
			waitPublished(t, r.Control, 4)
			resp, err := http.Get("http://" + r.Control + "/usage?gc=1")
			if err != nil {
				t.Fatal(err)
			}
			var u procstat.Usage
			err = json.NewDecoder(resp.Body).Decode(&u)
			resp.Body.Close()
			if err != nil || u.HeapInuse == 0 {
				t.Errorf("usage = %+v, %v", u, err)
			}

			quit(t, r.Control)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(stopTimeout):
				t.Fatal("Run did not return after quit")
			}
			if fi, err := os.Stat(file); err != nil || fi.Size() == 0 ||
				!strings.HasSuffix(file, "p-changes.pprof") {
				t.Errorf("profile %q: %v", file, err)
			}
		})
	}
}

// waitPublished waits until the server has published n changes in all.
func waitPublished(t *testing.T, ctl string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + ctl + "/publishes")
		if err != nil {
			t.Fatal(err)
		}
		var p Publishes
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		switch {
		case err != nil || p.Err != "":
			t.Fatalf("publishes: %+v, %v", p, err)
		case p.Changes == n:
			return
		case time.Now().After(deadline):
			t.Fatalf("published %+v, want %d changes", p, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func quit(t *testing.T, ctl string) {
	t.Helper()
	resp, err := http.Post("http://"+ctl+"/quit", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestRunRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string]Options{
		"unknown impl": {Impl: "envoy", Fleet: fleet.Spec{Pools: 1, Endpoints: 1}},
		"bad fleet":    {Impl: ImplStock, Fleet: fleet.Spec{Pools: 0, Endpoints: 1}},
	} {
		if err := Run(context.Background(), opts); err == nil {
			t.Errorf("%s: Run succeeded, want an error", name)
		}
	}
}
