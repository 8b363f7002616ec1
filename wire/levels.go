package wire

import v1 "github.com/tasktail/tasktail/proto/tasktail/v1"

// levelNames are the wire names of the levels (docs/design.md, "Field rules").
var levelNames = [...]string{
	v1.Level_LEVEL_DEBUG:    "debug",
	v1.Level_LEVEL_INFO:     "info",
	v1.Level_LEVEL_SUCCESS:  "success",
	v1.Level_LEVEL_WARNING:  "warning",
	v1.Level_LEVEL_ERROR:    "error",
	v1.Level_LEVEL_CRITICAL: "critical",
}

// LevelList names every level, for error messages and help texts.
const LevelList = "debug info success warning error critical"

// LevelName returns the wire name of l ("info", "error", …), or "" for an unknown level.
func LevelName(l v1.Level) string {
	if l <= 0 || int(l) >= len(levelNames) {
		return ""
	}
	return levelNames[l]
}

// LevelNamed returns the level called name, or 0 for none. It takes bytes too, so that a
// decoder can look a level up without allocating a string.
func LevelNamed[S ~string | ~[]byte](name S) v1.Level {
	for l, level := range levelNames {
		if level != "" && string(name) == level {
			return v1.Level(l)
		}
	}
	return 0
}
