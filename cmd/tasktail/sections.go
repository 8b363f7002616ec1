package main

import (
	"regexp"
	"strings"

	"github.com/tasktail/tasktail/client"
	"github.com/tasktail/tasktail/internal/termtext"
)

// Section markers: the explicit section field, and what GitHub Actions, GitLab and
// Buildkite print. The viewer page has the same rules (server/web/sections.js).
var (
	csiSequence  = regexp.MustCompile("[\x1b\u009b]\\[?[0-?]*[ -/]*[@-~]")
	githubGroup  = regexp.MustCompile(`^\s*::group::(.*)$`)
	githubEnd    = regexp.MustCompile(`^\s*::endgroup::\s*$`)
	gitlabStart  = regexp.MustCompile(`(?s)^section_start:\d+:([A-Za-z0-9_.-]+)(\[[^\]]*\])?\r?(.*)$`)
	gitlabEnd    = regexp.MustCompile(`^section_end:\d+:[A-Za-z0-9_.-]+`)
	buildkiteHdr = regexp.MustCompile(`(?s)^(---|\+\+\+|~~~) (.*\S.*)$`)
)

// sectionMark says whether ev starts a section (and its title) or ends one.
func sectionMark(ev client.Event) (start, end bool, title string) {
	switch ev.Section {
	case client.SectionStart:
		return true, false, termtext.Clean(ev.Message, false)
	case client.SectionEnd:
		return false, true, ""
	}
	raw := csiSequence.ReplaceAllString(ev.Message, "")
	if m := githubGroup.FindStringSubmatch(raw); m != nil {
		return true, false, strings.TrimSpace(termtext.Clean(m[1], false))
	}
	if githubEnd.MatchString(raw) || gitlabEnd.MatchString(raw) {
		return false, true, ""
	}
	if m := gitlabStart.FindStringSubmatch(raw); m != nil {
		if title = strings.TrimSpace(termtext.Clean(m[3], false)); title == "" {
			title = m[1]
		}
		return true, false, title
	}
	if m := buildkiteHdr.FindStringSubmatch(raw); m != nil {
		return true, false, strings.TrimSpace(termtext.Clean(m[2], false))
	}
	return false, false, ""
}
