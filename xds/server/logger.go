package server

import (
	"context"
	"fmt"
	"log/slog"
)

// controlPlaneLogger passes go-control-plane's printf-style messages to
// slog. Its Info messages (stale nonces, new subscriptions) are routine
// protocol chatter, so they go to Debug.
type controlPlaneLogger struct {
	log *slog.Logger
}

func (l controlPlaneLogger) Debugf(format string, args ...any) {
	l.logf(slog.LevelDebug, format, args)
}

func (l controlPlaneLogger) Infof(format string, args ...any) {
	l.logf(slog.LevelDebug, format, args)
}

func (l controlPlaneLogger) Warnf(format string, args ...any) {
	l.logf(slog.LevelWarn, format, args)
}

func (l controlPlaneLogger) Errorf(format string, args ...any) {
	l.logf(slog.LevelError, format, args)
}

// logf formats only when the level is enabled, since Debug is the common
// case and is usually off.
func (l controlPlaneLogger) logf(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.log.Log(ctx, level, fmt.Sprintf(format, args...), "component", "go-control-plane")
}
