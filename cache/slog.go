package cache

import "log/slog"

const (
	slogWarn = slog.LevelWarn
	slogInfo = slog.LevelInfo
)

func slogString(k, v string) slog.Attr { return slog.String(k, v) }
func slogErr(err error) slog.Attr      { return slog.String("error", err.Error()) }
