package tests

import (
	"encoding/json"
	"testing"
)

// Colours and styles a command printed (16, 256 and truecolor; bold, italic, underline,
// reset) are styled spans, and no escape character reaches the page.
func TestViewerRendersTerminalColours(t *testing.T) {
	s := start(t, defaults())
	ctx := openViewer(t, s, "sgr")
	s.publish("sgr", "info", "\x1b[31mred\x1b[0m \x1b[1;4mbold\x1b[22;24m \x1b[3mit\x1b[0m \x1b[38;5;196mhot\x1b[0m \x1b[38;2;10;20;30mtrue\x1b[39m \x1b[44mbg\x1b[0m plain", 0, false)
	until(t, ctx, "line shown", `document.querySelectorAll("#log .line").length === 1`)
	var got struct {
		Text  string              `json:"text"`
		Spans []map[string]string `json:"spans"`
	}
	raw := evalString(t, ctx, `JSON.stringify({text: document.querySelector("#log .message").textContent,
		spans: [...document.querySelectorAll("#log .message span")].map(s => ({text: s.textContent, cls: s.className,
			color: getComputedStyle(s).color, weight: getComputedStyle(s).fontWeight, style: getComputedStyle(s).fontStyle,
			deco: getComputedStyle(s).textDecorationLine, bg: getComputedStyle(s).backgroundColor}))})`)
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatal(err)
	}
	if got.Text != "red bold it hot true bg plain" {
		t.Fatalf("text %q, want the text without escapes", got.Text)
	}
	want := map[string]func(map[string]string) bool{
		"red":  func(s map[string]string) bool { return s["cls"] == "sgr-fg-1" && s["color"] != "" },
		"bold": func(s map[string]string) bool { return s["weight"] == "700" && s["deco"] == "underline" },
		"it":   func(s map[string]string) bool { return s["style"] == "italic" },
		"hot":  func(s map[string]string) bool { return s["color"] == "rgb(255, 0, 0)" },
		"true": func(s map[string]string) bool { return s["color"] == "rgb(10, 20, 30)" },
		"bg":   func(s map[string]string) bool { return s["cls"] == "sgr-bg-4" && s["bg"] != "rgba(0, 0, 0, 0)" },
	}
	seen := map[string]bool{}
	for _, sp := range got.Spans {
		if check, ok := want[sp["text"]]; ok {
			seen[sp["text"]] = true
			if !check(sp) {
				t.Errorf("span %q: %v", sp["text"], sp)
			}
		} else if sp["text"] != " " {
			t.Errorf("unexpected span %v", sp)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("styled spans %v, want one for each of %d", got.Spans, len(want))
	}
}

// A hostile message is inert: a clipboard write (OSC 52), cursor moves and a screen clear
// are dropped, markup inside a colour stays text, and only http and https URLs are links.
func TestViewerHostileSequencesAreInert(t *testing.T) {
	s := start(t, defaults())
	ctx := openViewer(t, s, "hostile")
	payload := "\x1b]52;c;ZXZpbA==\x07\x1b[2J\x1b[H\x1b[31m<img src=x onerror=\"window.pwned=1\">\x1b[0m\x1b]0;title\x1b\\ " +
		"\u009b31m<script>window.pwned=2</script> javascript:alert(1) see https://example.com/a?b=1. and http://x.test/\x1b[32m"
	s.publish("hostile", "info", payload, 0, false)
	until(t, ctx, "line shown", `document.querySelectorAll("#log .line").length === 1`)
	text := evalString(t, ctx, `document.querySelector("#log .message").textContent`)
	if want := `<img src=x onerror="window.pwned=1"> <script>window.pwned=2</script> javascript:alert(1) see https://example.com/a?b=1. and http://x.test/`; text != want {
		t.Fatalf("text %q, want %q", text, want)
	}
	if got := evalString(t, ctx, `String(document.querySelector("#log img, #log script") === null && window.pwned === undefined && document.title.indexOf("title") < 0)`); got != "true" {
		t.Fatal("the message was interpreted")
	}
	links := evalString(t, ctx, `JSON.stringify([...document.querySelectorAll("#log .message a")].map(a => [a.getAttribute("href"), a.rel, a.textContent]))`)
	if want := `[["https://example.com/a?b=1","noopener noreferrer","https://example.com/a?b=1"],["http://x.test/","noopener noreferrer","http://x.test/"]]`; links != want {
		t.Fatalf("links %s, want %s", links, want)
	}
}
