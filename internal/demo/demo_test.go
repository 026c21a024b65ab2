package demo_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spillway/spillway/internal/app"
	"github.com/spillway/spillway/internal/demo"
)

// TestMain fails the package if a run leaves goroutines behind: Spillway,
// the servers, the xDS client and every drain must stop with the demo.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestDemoTellsTheWholeStory plays the compressed schedule once, through
// the same entry point as the binary: the spike must make the scaler add
// instances and the lull remove them, traffic must be served with few
// failures, and the run must end cleanly with its directory removed.
func TestDemoTellsTheWholeStory(t *testing.T) {
	if testing.Short() {
		t.Skip("plays the demo for about 45s")
	}
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	sum, err := app.Demo(context.Background(), demo.Options{
		Duration: 44 * time.Second,
		Timing:   demo.CompressedTiming(),
		Out:      &out,
		Log:      log,
	})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("demo returned %v", err)
	}

	t.Run("traffic was served", func(t *testing.T) {
		// The spike outruns the pool until new instances are warm, so a
		// few requests may miss their deadline; more than 5% would mean
		// the pool did not keep up or requests were cut.
		if sum.OK == 0 || sum.Failed*20 > sum.OK {
			t.Errorf("%d ok, %d failed %v; want ok > 0 and failed <= 5%% of ok",
				sum.OK, sum.Failed, sum.FailedByCode)
		}
	})
	t.Run("no request was refused by a stopping instance", func(t *testing.T) {
		// A drained instance refuses newcomers with Unavailable; none may
		// reach it, since it is stopped only once Spillway publishes it
		// DRAINING and no request has arrived for a poll.
		if n := sum.FailedByCode["Unavailable"]; n > 0 {
			t.Errorf("%d requests failed Unavailable", n)
		}
	})
	t.Run("the scaler scaled up and down", func(t *testing.T) {
		if sum.ScaleUps < 1 || sum.ScaleDowns < 1 {
			t.Errorf("%d scale-ups and %d scale-downs; want at least one of each",
				sum.ScaleUps, sum.ScaleDowns)
		}
	})
	t.Run("the output explains itself", func(t *testing.T) {
		for _, want := range []string{
			"signal: queue = the model servers' own waiting+running gauges",
			"in production the scaler reads both from Envoy's stats",
			" time  phase     ready start drain",
			"spike", "lull",
			"stopped cleanly",
			"Where to go next:",
			"examples/quickstart.yaml",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q", want)
			}
		}
	})
	t.Run("the demo directory is removed", func(t *testing.T) {
		m := regexp.MustCompile(`config +(\S+)/spillway\.yaml`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatal("output names no config file")
		}
		if _, err := os.Stat(m[1]); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still exists after the demo (stat: %v)", m[1], err)
		}
	})
}
