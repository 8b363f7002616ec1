package tests

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// A burst while the page follows the log: the page builds rows only for what can be in
// view, passes over the rest as data and reads it back once the log is calm. Every line
// ends up shown once and in order, the section opened in the part passed over holds the
// lines after it, and links and search reach lines the burst passed over.
func TestViewerLiveBurstKeepsOrderLinksAndSearch(t *testing.T) {
	s := start(t, withHistory(5000))
	ctx := openViewer(t, s, "burst")
	s.publishBatch("burst", 1, 49)
	s.publish("burst", "info", "a needle in the burst", 0, false) // 50
	s.publishBatch("burst", 51, 99)
	s.publish("burst", "info", "::group::Build", 0, false) // 100
	for from := 101; from <= 3000; from += 1000 {
		s.publishBatch("burst", from, min(from+999, 3000))
	}
	until(t, ctx, "last line shown", `document.querySelector("#log .line:last-child")?.dataset.seq === "3000"`)
	until(t, ctx, "the window read back once calm", `document.querySelectorAll("#log .rows > *").length === 2000`)
	if got := evalString(t, ctx, `(() => { const rows = [...document.querySelectorAll("#log .rows > .line")];
		const seqs = rows.map(r => +r.dataset.seq);
		const inOrder = seqs.every((s, i) => i === 0 || s === seqs[i-1] + 1) && seqs.at(-1) === 3000;
		const texts = rows.every(r => r.querySelector(".message").textContent === "m" + r.dataset.seq);
		return [inOrder, texts, rows.every(r => r.dataset.sec === "100")].join() })()`); got != "true,true,true" {
		t.Fatalf("rows in order, their texts, in the section opened before them: %s", got)
	}
	// Search reaches a line the burst passed over, and shows it.
	run(t, ctx, chromedp.SendKeys("#search", "needle", chromedp.ByID))
	until(t, ctx, "one match", `document.getElementById("matches").textContent === "1 match"`)
	run(t, ctx, chromedp.KeyEvent("\r"))
	until(t, ctx, "went to it", `document.querySelector("mark.current")?.closest(".line")?.dataset.seq === "50"`)
	// A link to a line outside the rows now shown.
	run(t, ctx, chromedp.Evaluate(`location.hash = "#seq-2500"; true`, nil))
	until(t, ctx, "linked line shown", `document.getElementById("seq-2500")?.classList.contains("target") &&
		document.getElementById("seq-2500").querySelector(".message").textContent === "m2500"`)
}

// A page in the background gets no animation frames, so it renders nothing while messages
// come: what waits is bounded (the older half passed over), and once it renders again it
// shows the newest lines and reads the rest back, in order.
func TestViewerInTheBackgroundBoundsWhatWaits(t *testing.T) {
	s := start(t, withHistory(6000))
	ctx := openViewer(t, s, "away")
	arrived := make(chan struct{})
	var once sync.Once
	chromedp.ListenTarget(ctx, func(ev any) {
		if f, ok := ev.(*network.EventWebSocketFrameReceived); ok && strings.Contains(f.Response.PayloadData, `"seq":4500,`) {
			once.Do(func() { close(arrived) })
		}
	})
	run(t, ctx, network.Enable(), chromedp.Evaluate(`window.held = []; window.raf = window.requestAnimationFrame;
		window.requestAnimationFrame = (f) => held.push(f); true`, nil))
	for from := 1; from <= 4500; from += 500 {
		s.publishBatch("away", from, from+499)
	}
	select {
	case <-arrived:
	case <-time.After(wait):
		t.Fatal("the page did not receive seq 4500")
	}
	run(t, ctx, chromedp.Evaluate(`window.requestAnimationFrame = raf; held.forEach((f) => f(performance.now())); true`, nil))
	until(t, ctx, "last line shown", `document.querySelector("#log .line:last-child")?.dataset.seq === "4500"`)
	until(t, ctx, "the window read back", `document.querySelectorAll("#log .rows > *").length === 2000`)
	if got := evalString(t, ctx, `(() => { const seqs = [...document.querySelectorAll("#log .rows > .line")].map(r => +r.dataset.seq);
		return String(seqs[0] === 2501 && seqs.every((s, i) => i === 0 || s === seqs[i-1] + 1)) })()`); got != "true" {
		t.Fatal("the rows are not the run 2501-4500")
	}
}
