package resilience

import "log/slog"

const (
	slogInfo = slog.LevelInfo
	slogWarn = slog.LevelWarn
)
