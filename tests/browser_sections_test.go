package tests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// sectionsLog has a section in each syntax: GitHub Actions, GitLab (asking to be
// collapsed), Buildkite (+++ asks to stay open) and the explicit field; the GitHub one
// holds an error.
const sectionsLog = `[
	{"level":"info","message":"::group::Install dependencies"},
	{"level":"info","message":"npm ci"},
	{"level":"error","message":"npm ERR! network"},
	{"level":"info","message":"::endgroup::"},
	{"level":"info","message":"\u001b[0Ksection_start:1700000000:compile[collapsed=true]\r\u001b[0KCompile"},
	{"level":"info","message":"cc -c main.c"},
	{"level":"info","message":"\u001b[0Ksection_end:1700000003:compile\r\u001b[0K"},
	{"level":"info","message":"+++ Run tests"},
	{"level":"info","message":"ok 1"},
	{"level":"info","message":"--- Upload"},
	{"level":"info","message":"uploaded"},
	{"level":"info","message":"Report","section":"start"},
	{"level":"info","message":"42 rows"},
	{"level":"info","message":"","section":"end"},
	{"level":"success","message":"done","finished":true}]`

type sectionView struct {
	Title string `json:"title"`
	Open  bool   `json:"open"`
	Lines int    `json:"lines"`
	Took  string `json:"took"`
}

// The three CI syntaxes and the explicit field make collapsible sections with their
// duration; once the task has finished, successful sections are collapsed and the one
// holding an error is open; the keyboard opens and closes them.
func TestViewerSectionsCollapseAndExpandWithTheKeyboard(t *testing.T) {
	s := start(t, defaults())
	if r := s.publishRaw("sections", []byte(sectionsLog)); r.status != http.StatusAccepted {
		t.Fatalf("publish: %d %v", r.status, r.body)
	}
	ctx := browser(t)
	run(t, ctx, chromedp.Navigate(s.base+"/tasks/sections"))
	until(t, ctx, "finished", `document.getElementById("status").textContent === "finished"`)
	read := func() []sectionView {
		raw := evalString(t, ctx, `JSON.stringify([...document.querySelectorAll("#log .section-head")].map(h => ({
			title: h.querySelector(".section-title").textContent, open: !h.classList.contains("closed"),
			lines: document.querySelectorAll('#log .line[data-sec="' + h.dataset.sec + '"]').length,
			took: h.querySelector(".section-duration").textContent})))`)
		var got []sectionView
		if err := json.Unmarshal([]byte(raw), &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	until(t, ctx, "sections", `document.querySelectorAll("#log .section-head").length === 5`)
	got := read()
	want := []sectionView{
		{"Install dependencies", true, 2, ""}, {"Compile", false, 1, ""}, {"Run tests", true, 1, ""},
		{"Upload", false, 1, ""}, {"Report", false, 1, ""},
	}
	for i := range want {
		if got[i].Title != want[i].Title || got[i].Open != want[i].Open || got[i].Lines != want[i].Lines || !strings.HasSuffix(got[i].Took, "s") {
			t.Errorf("section %d: %+v, want %+v with a duration", i+1, got[i], want[i])
		}
	}
	if n := evalString(t, ctx, `String(document.querySelectorAll("#log .line:not([data-sec])").length)`); n != "1" {
		t.Errorf("%s lines outside sections, want 1 (done); markers are not lines", n)
	}

	// Tab reaches a section's title; Enter opens it and closes it again.
	compile := `document.querySelectorAll("#log .section-head")[1]`
	compileLine := `document.querySelector('#log .line[data-sec="' + ` + compile + `.dataset.sec + '"]')`
	run(t, ctx, chromedp.Evaluate(compile+`.querySelector("button").focus(); true`, nil))
	if got := evalString(t, ctx, `document.activeElement.textContent`); got != "Compile" {
		t.Fatalf("focused %q, want the Compile section's title", got)
	}
	run(t, ctx, chromedp.KeyEvent("\r"))
	until(t, ctx, "opened with Enter", `!`+compile+`.classList.contains("closed") && `+compileLine+`.offsetParent !== null`)
	run(t, ctx, chromedp.KeyEvent(" "))
	until(t, ctx, "closed with Space", compile+`.classList.contains("closed") && `+compileLine+`.offsetParent === null`)

	// A link to a line in a collapsed section opens it.
	run(t, ctx, chromedp.Navigate(s.base+"/tasks/sections#seq-13"))
	until(t, ctx, "linked line shown", `document.getElementById("seq-13")?.classList.contains("target") && document.getElementById("seq-13").offsetParent !== null`)
}

// Streams can be shown and hidden; a line rewritten with \r (update) is one row.
func TestViewerStreamsFilterAndUpdatesInPlace(t *testing.T) {
	s := start(t, defaults())
	ctx := openViewer(t, s, "streams")
	body := `[
		{"level":"info","message":"compiling","stream":"stdout"},
		{"level":"warning","message":"deprecated API","stream":"stderr"},
		{"level":"info","message":"  10%|#","stream":"stderr"},
		{"level":"info","message":"  60%|######","stream":"stderr","update":true},
		{"level":"info","message":"linking","stream":"stdout"},
		{"level":"info","message":" 100%|##########","stream":"stderr","update":true}]`
	if r := s.publishRaw("streams", []byte(body)); r.status != http.StatusAccepted {
		t.Fatalf("publish: %d %v", r.status, r.body)
	}
	until(t, ctx, "the bar's final state", `document.querySelector("#seq-6 .message")?.textContent === " 100%|##########"`)
	var messages []string
	for _, l := range domLines(t, ctx) {
		messages = append(messages, l.Message)
	}
	if got := strings.Join(messages, ","); got != "compiling,deprecated API, 100%|##########,linking" {
		t.Fatalf("rows %q: a bar's states should be one row", got)
	}
	visible := `[...document.querySelectorAll("#log .line")].filter(l => l.offsetParent !== null).map(l => l.querySelector(".message").textContent).join(",")`
	run(t, ctx, chromedp.Focus(`#streams input[data-token="s1"]`, chromedp.ByQuery), chromedp.KeyEvent(" "))
	until(t, ctx, "stderr hidden", visible+` === "compiling,linking"`)
	run(t, ctx, chromedp.KeyEvent(" "))
	until(t, ctx, "stderr shown again", visible+` === "compiling,deprecated API, 100%|##########,linking"`)

	// Elapsed time instead of the clock.
	run(t, ctx, chromedp.Focus("#elapsed", chromedp.ByID), chromedp.KeyEvent(" "))
	until(t, ctx, "elapsed times", `document.querySelector("#seq-1 time a").textContent === "+00:00:00.000"`)
}
