package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"

	"github.com/chromedp/chromedp"
	"github.com/tasktail/tasktail/actors"
	"github.com/tasktail/tasktail/server"
	"github.com/tasktail/tasktail/token"
	"github.com/tasktail/tasktail/wire"
)

// findChromium locates Debian's chromium; under CI=true a missing browser fails the test.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return requireTool(t, "chromium")
}

// browser starts headless chromium; it is stopped when the test ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(findChromium(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1100, 700),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Run(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs browser actions with a deadline.
func run(t testing.TB, ctx context.Context, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// until waits for a JavaScript expression to become true.
func until(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	var ok bool
	pollCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := chromedp.Run(pollCtx, chromedp.Poll(expr, &ok, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		var page string
		dumpCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_ = chromedp.Run(dumpCtx, chromedp.Evaluate(`document.body.innerText.slice(0, 500)`, &page)) // best effort, for the message
		t.Fatalf("%s (%s): %v\npage text: %q", what, expr, err, page)
	}
}

type domLine struct {
	Seq     int    `json:"seq"`
	Level   string `json:"level"`
	Message string `json:"message"`
}

// domLines reads the log lines the page shows.
func domLines(t *testing.T, ctx context.Context) []domLine {
	t.Helper()
	var raw string
	run(t, ctx, chromedp.Evaluate(`JSON.stringify([...document.querySelectorAll("#log .line:not(.gap)")].map(l => ({
		seq: +l.dataset.seq, level: l.querySelector(".level").textContent, message: l.querySelector(".message").textContent})))`, &raw))
	var lines []domLine
	if err := json.Unmarshal([]byte(raw), &lines); err != nil {
		t.Fatal(err)
	}
	return lines
}

func evalString(t testing.TB, ctx context.Context, expr string) string {
	t.Helper()
	var s string
	run(t, ctx, chromedp.Evaluate(expr, &s))
	return s
}

func openViewer(t *testing.T, s *service, taskID string) context.Context {
	t.Helper()
	ctx := browser(t)
	run(t, ctx, chromedp.Navigate(s.base+"/tasks/"+taskID))
	until(t, ctx, "page live", `document.getElementById("status").textContent === "live"`)
	return ctx
}

func TestViewerShowsLiveLogLevelsAndProgress(t *testing.T) {
	s := start(t, defaults())
	ctx := openViewer(t, s, "page")
	if got := evalString(t, ctx, `document.getElementById("task-id").textContent`); got != "page" {
		t.Fatalf("task id shown as %q", got)
	}
	s.publish("page", "info", "import started", 10, false)
	s.publish("page", "warning", "row 7 skipped", 50, false)
	s.publish("page", "error", "row 9 failed", 70, false)
	until(t, ctx, "three lines", `document.querySelectorAll("#log .line").length === 3`)
	want := []domLine{{1, "info", "import started"}, {2, "warning", "row 7 skipped"}, {3, "error", "row 9 failed"}}
	if got := domLines(t, ctx); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("page shows %v, want %v", got, want)
	}
	until(t, ctx, "progress 70", `document.getElementById("progress").value === 70`)
	if got := evalString(t, ctx, `document.getElementById("progress-text").textContent + "|" + document.getElementById("progress").getAttribute("aria-label")`); got != "70%|Task progress" {
		t.Fatalf("progress text and label: %q", got)
	}
	// Each level has its own class, and so its own colour.
	if got := evalString(t, ctx, `[...document.querySelectorAll("#log .line")].map(l => getComputedStyle(l.querySelector(".level")).color).join("|")`); len(strings.Split(got, "|")) != 3 || strings.Split(got, "|")[0] == strings.Split(got, "|")[2] {
		t.Fatalf("level colours %q: info and error must differ", got)
	}
}

func TestViewerShowsHTMLAsText(t *testing.T) {
	s := start(t, defaults())
	ctx := openViewer(t, s, "xss")
	payload := `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b>bold</b>`
	s.publish("xss", "info", payload, 0, false)
	until(t, ctx, "line shown", `document.querySelectorAll("#log .line").length === 1`)
	if got := domLines(t, ctx)[0].Message; got != payload {
		t.Fatalf("message shown as %q, want the literal text", got)
	}
	if got := evalString(t, ctx, `String(document.querySelector("#log img, #log script, #log b") === null && window.pwned === undefined)`); got != "true" {
		t.Fatal("the message was interpreted as HTML")
	}
}

func TestViewerShowsGapAndReplaysHistory(t *testing.T) {
	cfg := defaults()
	cfg.Actors = actors.Config{HistoryLimit: 100}
	s := start(t, cfg)
	s.publishN("hist", 1, 130) // history keeps 31..130
	ctx := openViewer(t, s, "hist")
	until(t, ctx, "replay shown", `document.querySelectorAll("#log .line:not(.gap)").length === 100`)
	if got := evalString(t, ctx, `document.querySelector("#log .gap").textContent`); got != "… 30 messages not shown" {
		t.Fatalf("gap line %q", got)
	}
	if lines := domLines(t, ctx); lines[0].Seq != 31 || lines[99].Seq != 130 {
		t.Fatalf("replayed %d..%d", lines[0].Seq, lines[99].Seq)
	}
}

func TestViewerReconnectsAndShowsEveryMessageOnce(t *testing.T) {
	s := start(t, defaults())
	ctx := openViewer(t, s, "re")
	run(t, ctx, chromedp.Evaluate(`window.seen = []; new MutationObserver(() => seen.push(document.getElementById("status").textContent))
		.observe(document.getElementById("status"), {childList: true, characterData: true, subtree: true}); true`, nil))
	s.publishN("re", 1, 3)
	until(t, ctx, "first lines", `document.querySelectorAll("#log .line").length === 3`)

	s.srv.Manager().CloseViewers(wire.CloseGoingAway, "server shutting down")
	s.publishN("re", 4, 6) // while the page is away or coming back
	until(t, ctx, "reconnected", `seen.includes("reconnecting") && document.getElementById("status").textContent === "live"`)
	s.publishN("re", 7, 9)
	until(t, ctx, "all lines", `document.querySelectorAll("#log .line").length >= 9`)
	lines := domLines(t, ctx)
	if len(lines) != 9 {
		t.Fatalf("page shows %d lines, want 9: %v", len(lines), lines)
	}
	for i, l := range lines {
		if l.Seq != i+1 || l.Message != fmt.Sprintf("m%d", i+1) {
			t.Fatalf("line %d is %+v: lost, doubled or out of order", i, l)
		}
	}
}

func TestViewerFinishedWithErrorShowsBanner(t *testing.T) {
	s := start(t, defaults())
	ctx := openViewer(t, s, "boom")
	s.publish("boom", "info", "working", 60, false)
	s.publish("boom", "critical", "database unreachable", 65, true)
	until(t, ctx, "banner", `!document.getElementById("banner").hidden`)
	if got := evalString(t, ctx, `document.getElementById("banner").className + "|" + document.getElementById("banner").textContent`); got != "banner banner-error|Failed: database unreachable (65%)" {
		t.Fatalf("banner %q", got)
	}
	until(t, ctx, "status finished", `document.getElementById("status").textContent === "finished"`)
	if got := evalString(t, ctx, `String(document.getElementById("progress").value)`); got != "65" {
		t.Fatalf("final progress %s", got)
	}
}

func TestViewerAutoScrollPausesAndJumps(t *testing.T) {
	s := start(t, defaults())
	ctx := openViewer(t, s, "scroll")
	s.publishBatch("scroll", 1, 200)
	until(t, ctx, "lines", `document.querySelectorAll("#log .line").length === 200`)
	atBottom := `(() => { const l = document.getElementById("log"); return l.scrollHeight - l.scrollTop - l.clientHeight < 32 })()`
	until(t, ctx, "follows the log", atBottom)
	run(t, ctx, chromedp.Evaluate(`document.getElementById("log").scrollTop = 0; true`, nil))
	s.publishBatch("scroll", 201, 260)
	until(t, ctx, "more lines", `document.querySelectorAll("#log .line").length === 260`)
	until(t, ctx, "jump offered", `!document.getElementById("jump").hidden`)
	if got := evalString(t, ctx, `String(document.getElementById("log").scrollTop)`); got != "0" {
		t.Fatalf("the page scrolled while the reader was reading (scrollTop %s)", got)
	}
	run(t, ctx, chromedp.Click("#jump", chromedp.ByID))
	until(t, ctx, "at the latest", atBottom+` && document.getElementById("jump").hidden`)
}

// The page keeps at most 2,000 rows: live lines push the oldest out; scrolling up reads
// them back a page at a time; links and search reach messages not in the page.
func TestViewerKeepsAWindowOfRows(t *testing.T) {
	s := start(t, withHistory(6000))
	ctx := openViewer(t, s, "many")
	s.publish("many", "info", "a needle in the log", 0, false)
	for from := 2; from <= 6000; from += 1000 {
		s.publishBatch("many", from, min(from+999, 6000))
	}
	until(t, ctx, "last line shown", `document.querySelector("#log .line:last-child")?.dataset.seq === "6000"`)
	rowCount := `document.querySelectorAll("#log .rows > *").length`
	// A burst builds the rows in view; once it is over the page reads back the rest.
	until(t, ctx, "a window of 2000 rows", rowCount+` === 2000`)
	// Scrolling up reads the older pages back, each joined to the rows it precedes.
	until(t, ctx, "an older page read", `(() => { const l = document.getElementById("log"); l.scrollTop -= 1500;
		return document.getElementById("seq-3500") !== null })()`)
	if got := evalString(t, ctx, `(() => { const seqs = [...document.querySelectorAll("#log .rows > .line")].map(r => +r.dataset.seq);
		return String(seqs.length <= 2000 && seqs.every((s, i) => i === 0 || s === seqs[i-1] + 1)) })()`); got != "true" {
		t.Fatal("the rows are not one run of seqs after reading older pages")
	}
	// Dragging the scrollbar to the top reads the first page.
	until(t, ctx, "scrolled to the first line", `(() => { const l = document.getElementById("log"); l.scrollTop = 0; l.dispatchEvent(new Event("scroll"));
		return document.getElementById("seq-1") !== null })()`)
	if got := evalString(t, ctx, `String(`+rowCount+` <= 2000 && document.getElementById("seq-6000") === null)`); got != "true" {
		t.Fatal("the page holds more than 2000 rows after scrolling up")
	}
	// A link to a message the page does not hold.
	run(t, ctx, chromedp.Navigate(s.base+"/tasks/many#seq-5500"))
	until(t, ctx, "linked line shown", `document.getElementById("seq-5500")?.classList.contains("target")`)
	// Search covers what the page does not hold.
	run(t, ctx, chromedp.SendKeys("#search", "NEEDLE", chromedp.ByID))
	until(t, ctx, "one match", `document.getElementById("matches").textContent === "1 match"`)
	run(t, ctx, chromedp.KeyEvent("\r"))
	until(t, ctx, "went to it", `document.querySelector("mark.current")?.closest(".line")?.dataset.seq === "1"`)
}

// withHistory is a configuration whose tasks keep n messages in memory.
func withHistory(n int) server.Config {
	cfg := defaults()
	cfg.Actors = actors.Config{HistoryLimit: n}
	return cfg
}

// The README shows docs/viewer.png; `make screenshot` refreshes it from this test.
func TestViewerScreenshot(t *testing.T) {
	s := start(t, defaults())
	for _, m := range []struct {
		level, text string
		progress    float64
	}{
		{"info", "::group::Fetch customers.csv", 2},
		{"info", "\x1b[32m✔\x1b[0m downloaded 48,210 rows (3.1 MB)", 4},
		{"info", "::endgroup::", 5},
		{"info", "::group::Import rows", 5},
		{"debug", "schema detected: \x1b[1m14 columns\x1b[0m, key \x1b[36mcustomer_id\x1b[0m", 6},
		{"info", "rows 1-20000 \x1b[32mimported\x1b[0m", 40},
		{"warning", "row 23117: invalid email \x1b[33m\"jane@\"\x1b[0m, row skipped", 48},
		{"info", "rows 20001-40000 \x1b[32mimported\x1b[0m", 82},
		{"error", "row 41002: duplicate key \x1b[1;31m'C-1042'\x1b[0m, row skipped", 86},
		{"info", "rows 40001-48210 \x1b[32mimported\x1b[0m", 99},
		{"info", "::endgroup::", 99},
		{"info", "::group::Rebuild search index", 99},
		{"info", "\x1b[36mindexing\x1b[0m 48,208 documents … \x1b[32mdone\x1b[0m", 100},
		{"info", "::endgroup::", 100},
	} {
		s.publish("import-42", m.level, m.text, m.progress, false)
	}
	s.publish("import-42", "success", "import complete: 48,208 rows, 2 skipped; report at https://example.com/reports/42", 100, true)
	ctx := browser(t)
	var png []byte
	run(t, ctx, chromedp.EmulateViewport(1000, 480), chromedp.Navigate(s.base+"/tasks/import-42"))
	until(t, ctx, "finished", `document.getElementById("status").textContent === "finished"`)
	run(t, ctx, chromedp.CaptureScreenshot(&png))
	if len(png) < 10_000 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot of %d bytes is not a PNG of the page", len(png))
	}
	if path := os.Getenv("TASKTAIL_UPDATE_SCREENSHOT"); path != "" {
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestViewerPassesItsToken(t *testing.T) {
	openPrivateViewer(t)
}

// openPrivateViewer opens the page of a task that needs a token, with one, and waits for
// its line.
func openPrivateViewer(t *testing.T) context.Context {
	t.Helper()
	s := secured(t)
	s.with(testKey, "POST", "/v1/tasks/private/logs", `{"level":"info","message":"for token holders"}`)
	ctx := browser(t)
	run(t, ctx, chromedp.Navigate(s.base+"/tasks/private?token="+mint(t, "private", time.Hour)))
	until(t, ctx, "line shown", `document.querySelector("#log .message")?.textContent === "for token holders"`)
	return ctx
}

// tasktail.js, resuming from a since the task never reached, shows the current
// incarnation from seq 1 after the epoch gap instead of dropping it as already seen.
func TestTasktailJSFromAPositionNeverReached(t *testing.T) {
	s := start(t, defaults())
	s.publishN("fresh", 1, 3)
	ctx := openViewer(t, s, "other")
	run(t, ctx, chromedp.Evaluate(`window.got = []; import("/static/tasktail.js").then(m => m.tail("fresh", {
		since: 50,
		onGap: (g) => got.push(g.reason),
		onLog: (e) => got.push(e.seq),
	})); true`, nil))
	until(t, ctx, "gap and three logs", `got.length === 4`)
	if got := evalString(t, ctx, `JSON.stringify(got)`); got != `["epoch",1,2,3]` {
		t.Fatalf("tasktail.js got %s", got)
	}
}

// The page's "Download log" link fetches the task's whole log with the page's token.
func TestViewerDownloadLinkCarriesTheLog(t *testing.T) {
	ctx := openPrivateViewer(t)
	var body string
	run(t, ctx, chromedp.Evaluate(`(async () => { const r = await fetch(document.getElementById("download").href); return r.status + "|" + r.headers.get("Content-Disposition") + "|" + (await r.text()) })()`,
		&body, awaitPromise))
	if !strings.HasPrefix(body, `200|attachment; filename="private.log"|`) || !strings.HasSuffix(body, " info for token holders\n") {
		t.Fatalf("download link answered %q", body)
	}
}

// settledAtBottom is true once two frames have passed and the log shows its last line.
const settledAtBottom = `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => {
	const l = document.getElementById("log");
	r(l.scrollHeight - l.scrollTop - l.clientHeight < 2 && document.getElementById("jump").hidden);
})))`

func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// The page lands at the bottom of a finished task on every load, and stays there when a
// task it follows finishes (the banner takes room from the log).
func TestViewerLandsAtTheBottomOfAFinishedTask(t *testing.T) {
	s := start(t, defaults())
	s.publishBatch("done", 1, 300)
	s.publish("done", "success", "all rows imported", 100, true)
	ctx := browser(t)
	for load := range 8 {
		run(t, ctx, chromedp.Navigate(s.base+"/tasks/done"))
		until(t, ctx, "finished banner", `!document.getElementById("banner").hidden && document.querySelectorAll("#log .line").length === 301`)
		var bottom bool
		run(t, ctx, chromedp.Evaluate(settledAtBottom, &bottom, awaitPromise))
		if !bottom {
			t.Fatalf("load %d: the page stopped above the last line of a finished task", load+1)
		}
	}
	for round := range 3 {
		id := fmt.Sprintf("finishing-%d", round)
		run(t, ctx, chromedp.Navigate(s.base+"/tasks/"+id))
		until(t, ctx, "page live", `document.getElementById("status").textContent === "live"`)
		s.publishBatch(id, 1, 300)
		until(t, ctx, "lines", `document.querySelectorAll("#log .line").length === 300`)
		s.publish(id, "success", "done", 100, true)
		until(t, ctx, "finished banner", `!document.getElementById("banner").hidden`)
		var bottom bool
		run(t, ctx, chromedp.Evaluate(settledAtBottom, &bottom, awaitPromise))
		if !bottom {
			t.Fatalf("round %d: the page ended above the last line when the task finished", round+1)
		}
	}
}

// The page says why it cannot show a task, and stops retrying, instead of "reconnecting"
// for ever: no token, an expired one, a page origin the server refuses.
func TestViewerSaysWhyItIsRefused(t *testing.T) {
	s := secured(t)
	s.with(testKey, "POST", "/v1/tasks/private/logs", `{"level":"info","message":"x"}`)
	expired, err := token.Mint([]byte(testSecret), "private", -time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	for _, tc := range []struct{ name, query, says string }{
		{"no token", "", "Not authorised: a subscribe token is required"},
		{"an expired token", "?token=" + expired, "Not authorised: the token has expired"},
		{"another task's token", "?token=" + mint(t, "other", time.Hour), "Refused: the token does not open this task"},
	} {
		run(t, ctx, chromedp.Navigate(s.base+"/tasks/private"+tc.query))
		until(t, ctx, tc.name+": refused", `document.getElementById("status").textContent === "refused"`)
		if got := evalString(t, ctx, `document.getElementById("banner").textContent`); !strings.HasPrefix(got, tc.says) {
			t.Errorf("%s: banner %q, want it to start %q", tc.name, got, tc.says)
		}
	}
	// It does not retry: the refusals stop.
	before := grepLines(s.metrics(), "tasktail_auth_failures_total")
	var settled bool
	run(t, ctx, chromedp.Evaluate(`new Promise(r => setTimeout(() => r(true), 1500))`, &settled, awaitPromise))
	if after := grepLines(s.metrics(), "tasktail_auth_failures_total"); after != before {
		t.Fatalf("the page kept trying: %s, then %s", before, after)
	}

	// A page of an origin the server does not allow, using tasktail.js.
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!doctype html><script type="module">
			import { tail } from %q;
			window.errors = [];
			tail("private", { baseUrl: %q, token: %q, onError: (e) => errors.push(e.status + " " + e.message) });
		</script>`, s.base+"/static/tasktail.js", s.base, mint(t, "private", time.Hour))
	}))
	defer page.Close()
	run(t, ctx, chromedp.Navigate(strings.Replace(page.URL, "127.0.0.1", "localhost", 1)))
	until(t, ctx, "origin refused", `window.errors?.length === 1`)
	if got := evalString(t, ctx, `errors[0]`); !strings.HasPrefix(got, "403 pages of http://localhost:") || !strings.Contains(got, "--allowed-origins") {
		t.Fatalf("a refused origin: %q", got)
	}
}

// A task nobody has published to says so, and its first message replaces the note.
func TestViewerWaitsForTheFirstMessage(t *testing.T) {
	s := start(t, defaults())
	ctx := openViewer(t, s, "soon")
	until(t, ctx, "waiting note", `document.querySelector("#log .waiting")?.textContent === "Waiting for the first message…"`)
	s.publish("soon", "info", "started", 1, false)
	until(t, ctx, "first line", `document.querySelector("#log .message")?.textContent === "started"`)
	if got := evalString(t, ctx, `String(document.querySelector("#log .waiting"))`); got != "null" {
		t.Fatalf("the waiting note stayed: %s", got)
	}
}

// What people do with a log page: filter by level, search with marked matches, link to a
// line, copy what is shown, wrap or not; every control reached by the keyboard.
func TestViewerFilterSearchLinkCopyWrap(t *testing.T) {
	s := start(t, defaults())
	levels := []string{"debug", "info", "success", "warning", "error"}
	for i := 1; i <= 100; i++ {
		s.publish("tools", levels[i%len(levels)], fmt.Sprintf("row %d of the import", i), float64(i), false)
	}
	ctx := openViewer(t, s, "tools")
	until(t, ctx, "lines", `document.querySelectorAll("#log .line").length === 100`)
	visible := `[...document.querySelectorAll("#log .line")].filter(l => l.offsetParent !== null).length`

	// The level filter, chosen with the keyboard.
	run(t, ctx, chromedp.Focus("#min-level", chromedp.ByID), chromedp.SetValue("#min-level", "warning", chromedp.ByID),
		chromedp.Evaluate(`document.getElementById("min-level").dispatchEvent(new Event("change")); true`, nil))
	if got := evalString(t, ctx, `String(`+visible+`)`); got != "40" {
		t.Fatalf("warnings and errors: %s lines shown, want 40", got)
	}
	run(t, ctx, chromedp.SetValue("#min-level", "", chromedp.ByID),
		chromedp.Evaluate(`document.getElementById("min-level").dispatchEvent(new Event("change")); true`, nil))

	// Search: "/" focuses the box; matches are marked, Enter goes to them.
	run(t, ctx, chromedp.Click("#log", chromedp.ByID), chromedp.KeyEvent("/"))
	if got := evalString(t, ctx, `document.activeElement.id`); got != "search" {
		t.Fatalf(`"/" focused %q, want the search box`, got)
	}
	// (The protocol's key events type the "/" too, which a browser's keydown handler
	// prevents; the box starts empty here.)
	run(t, ctx, chromedp.Evaluate(`document.getElementById("search").value = ""; true`, nil), chromedp.SendKeys("#search", "ROW 7", chromedp.ByID))
	until(t, ctx, "matches counted", `document.getElementById("matches").textContent === "11 matches"`) // 7, 70-79
	run(t, ctx, chromedp.KeyEvent("\r"))
	until(t, ctx, "first match", `document.getElementById("matches").textContent === "1 of 11"`)
	if got := evalString(t, ctx, `document.querySelector("mark.current").closest(".line").dataset.seq + "|" + document.querySelector("mark.current").textContent`); got != "7|row 7" {
		t.Fatalf("current match %q", got)
	}
	if got := evalString(t, ctx, `document.querySelector("#seq-7 .message").textContent`); got != "row 7 of the import" {
		t.Fatalf("marking changed the text: %q", got)
	}
	// Lower-casing "İ" makes two characters of one: the marks still land on the match.
	s.publish("tools", "info", "İİ İstanbul row 7 done", 0, false)
	until(t, ctx, "the line with İ marked", `document.querySelector("#seq-101 mark")?.textContent === "row 7"`)
	run(t, ctx, chromedp.Evaluate(`document.getElementById("search").value = "i̇stanbul"; document.getElementById("search").dispatchEvent(new Event("input")); true`, nil))
	until(t, ctx, "İstanbul marked", `document.querySelector("#seq-101 mark")?.textContent === "İstanbul"`)
	if got := evalString(t, ctx, `document.querySelector("#seq-101 .message").textContent`); got != "İİ İstanbul row 7 done" {
		t.Fatalf("marking changed the text: %q", got)
	}
	run(t, ctx, chromedp.Evaluate(`document.getElementById("search").value = "ROW 7"; document.getElementById("search").dispatchEvent(new Event("input")); true`, nil))
	until(t, ctx, "matches counted again", `document.getElementById("matches").textContent === "12 matches"`)

	// A link to a line: its time links #seq-N, and opening it scrolls there.
	if got := evalString(t, ctx, `document.querySelector("#seq-42 time a").getAttribute("href")`); got != "#seq-42" {
		t.Fatalf("line link %q", got)
	}
	run(t, ctx, chromedp.Navigate(s.base+"/tasks/tools#seq-42"))
	until(t, ctx, "linked line shown", `document.getElementById("seq-42")?.classList.contains("target")`)
	inView := `(() => { const r = document.getElementById("seq-42").getBoundingClientRect(), l = document.getElementById("log").getBoundingClientRect(); return r.top >= l.top && r.bottom <= l.bottom })()`
	until(t, ctx, "linked line in view", inView)

	// Copy puts the lines shown on the clipboard.
	run(t, ctx, chromedp.Evaluate(`window.copied = null; navigator.clipboard.writeText = async (t) => { window.copied = t }; true`, nil),
		chromedp.SetValue("#min-level", "error", chromedp.ByID),
		chromedp.Evaluate(`document.getElementById("min-level").dispatchEvent(new Event("change")); true`, nil),
		chromedp.Focus("#copy", chromedp.ByID), chromedp.KeyEvent("\r"))
	until(t, ctx, "copied", `document.getElementById("copied").textContent === "Copied 20 lines"`)
	copied := evalString(t, ctx, `window.copied`)
	if lines := strings.Split(strings.TrimSuffix(copied, "\n"), "\n"); len(lines) != 20 || !strings.HasSuffix(lines[0], " error row 4 of the import") {
		t.Fatalf("copied %d lines, first %q", len(lines), lines[0])
	}

	// Wrap off: long messages scroll sideways instead of wrapping.
	run(t, ctx, chromedp.Focus("#wrap", chromedp.ByID), chromedp.KeyEvent(" "))
	if got := evalString(t, ctx, `getComputedStyle(document.querySelector("#log .message")).whiteSpace`); got != "pre" {
		t.Fatalf("wrap off: white-space %q", got)
	}

	// Every control is reached with Tab, from a fresh load.
	reached := map[string]bool{}
	run(t, ctx, chromedp.Navigate(s.base+"/tasks/tools"))
	until(t, ctx, "page live", `document.getElementById("status").textContent === "live"`)
	for range 8 {
		run(t, ctx, chromedp.KeyEvent("\t"))
		reached[evalString(t, ctx, `document.activeElement.id || document.activeElement.tagName`)] = true
	}
	for _, id := range []string{"download", "min-level", "search", "wrap", "copy"} {
		if !reached[id] {
			t.Errorf("Tab never reached #%s (reached %v)", id, reached)
		}
	}
}

// The page at / lists the tasks with their state and progress, each linking to its viewer.
func TestIndexPageListsTasks(t *testing.T) {
	s := start(t, defaults())
	s.publish("import-1", "info", "rows", 40, false)
	s.publish("import-2", "error", "broke", 70, true)
	s.publish("report", "success", "done", 100, true)
	ctx := browser(t)
	run(t, ctx, chromedp.Navigate(s.base+"/"))
	until(t, ctx, "three tasks", `document.querySelectorAll("#tasks tbody tr").length === 3`)
	rows := evalString(t, ctx, `[...document.querySelectorAll("#tasks tbody tr")].map(r => [...r.cells].slice(0, 3).map(c => c.textContent.trim()).join(",")).join(" | ")`)
	if rows != "report,finished,100% | import-2,failed,70% | import-1,running,40%" {
		t.Fatalf("rows %q", rows)
	}
	run(t, ctx, chromedp.SetValue("#state", "failed", chromedp.ByID), chromedp.Click(`#filter button`, chromedp.ByQuery))
	until(t, ctx, "failed only", `document.querySelectorAll("#tasks tbody tr").length === 1`)
	href := evalString(t, ctx, `document.querySelector("#tasks tbody a").href`)
	if href != s.base+"/tasks/import-2" {
		t.Fatalf("the task links %q", href)
	}
	run(t, ctx, chromedp.Navigate(href))
	until(t, ctx, "the viewer of the task", `document.querySelector("#log .message")?.textContent === "broke"`)
}

// The index page refreshes by asking whether its page changed: while it has not, the
// server answers 304 and the rows stay as they are (only the times since grow); once a
// task changes, the page is shown anew.
func TestIndexPageRefreshAsksWhatChanged(t *testing.T) {
	s := start(t, defaults())
	s.publish("import-1", "info", "rows", 40, false)
	ctx := browser(t)
	run(t, ctx, chromedp.Navigate(s.base+"/"))
	until(t, ctx, "the task", `document.querySelectorAll("#tasks tbody tr").length === 1`)
	run(t, ctx, chromedp.Evaluate(`document.querySelector("#tasks tbody tr").dataset.kept = "yes"`, nil))
	// The tab shown again refreshes at once (as the timer does every 5 s).
	refresh := chromedp.Evaluate(`document.dispatchEvent(new Event("visibilitychange"))`, nil)
	run(t, ctx, refresh)
	until(t, ctx, "a refresh answered 304", `performance.getEntriesByType("resource").some(e => e.name.includes("/v1/tasks") && e.responseStatus === 304)`)
	if kept := evalString(t, ctx, `document.querySelector("#tasks tbody tr").dataset.kept || ""`); kept != "yes" {
		t.Fatalf("the row was made anew though its page had not changed")
	}
	s.publish("import-1", "info", "more rows", 60, false)
	run(t, ctx, refresh)
	until(t, ctx, "the changed task shown anew", `document.querySelector("#tasks tbody tr progress").value === 60 && !document.querySelector("#tasks tbody tr").dataset.kept`)
}
