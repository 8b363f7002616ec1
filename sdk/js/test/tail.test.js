// tasktail.js against a real `tasktail serve` (the binary named by TASKTAIL_BIN).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tail } from "../tasktail.js";

const bin = process.env.TASKTAIL_BIN;
assert.ok(bin, "TASKTAIL_BIN must name the built tasktail binary (make test sets it)");

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

// A tasktail serve process; stop() and start() keep its port and journal.
async function serve(...args) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "tasktail-js-"));
  const base = `http://127.0.0.1:${port}`;
  const s = { base, proc: null };
  s.start = async () => {
    s.proc = spawn(bin, ["serve", "--addr", `127.0.0.1:${port}`, "--data-dir", dir, "--log-level", "warn", ...args], { stdio: "ignore" });
    for (let i = 0; i < 200; i++) {
      try {
        if ((await fetch(`${base}/readyz`)).ok) return;
      } catch {}
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("tasktail serve did not get ready");
  };
  s.stop = () => new Promise((resolve) => {
    s.proc.once("exit", resolve);
    s.proc.kill("SIGTERM");
  });
  s.close = async () => {
    if (s.proc.exitCode === null) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  await s.start();
  return s;
}

async function publish(base, taskId, body, key) {
  const headers = { "Content-Type": "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  const r = await fetch(`${base}/v1/tasks/${taskId}/logs`, { method: "POST", headers, body: JSON.stringify(body) });
  assert.equal(r.status, 202, await r.text());
}

// follow records what tail() reports, and resolves a promise per awaited condition.
function follow(taskId, options) {
  const seen = { hellos: [], logs: [], gaps: [], statuses: [], errors: [], finished: null };
  const waiters = [];
  const check = () => {
    for (const w of [...waiters]) if (w.cond()) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  };
  const t = tail(taskId, {
    ...options,
    minBackoff: 50,
    onHello: (h) => { seen.hellos.push(h); check(); },
    onLog: (e) => { seen.logs.push(e); check(); },
    onGap: (g) => { seen.gaps.push(g); check(); },
    onStatus: (s) => { seen.statuses.push(s); check(); },
    onError: (e) => { seen.errors.push(e); check(); },
    onFinished: (last) => { seen.finished = last; check(); },
  });
  seen.until = (what, cond, ms = 10000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}: ${JSON.stringify(seen)}`)), ms);
      waiters.push({ cond, resolve: () => { clearTimeout(timer); resolve(); } });
      check();
    });
  seen.close = () => t.close();
  return seen;
}

test("a finished task: every entry once, then finished", async () => {
  const s = await serve();
  try {
    for (let i = 1; i <= 3; i++) await publish(s.base, "done", { level: "info", message: `m${i}`, progress: i * 10 });
    await publish(s.base, "done", { level: "success", message: "end", progress: 100, finished: true });
    const seen = follow("done", { baseUrl: s.base });
    await seen.until("finished", () => seen.statuses.at(-1) === "finished");
    assert.deepEqual(seen.logs.map((e) => e.message), ["m1", "m2", "m3", "end"]);
    assert.equal(seen.finished.message, "end");
  } finally {
    await s.close();
  }
});

test("a burst arrives in batches: every entry once, in order", async () => {
  const s = await serve();
  try {
    await publish(s.base, "burst", { level: "info", message: "first" });
    const seen = follow("burst", { baseUrl: s.base });
    await seen.until("first", () => seen.logs.length === 1);
    await publish(s.base, "burst", Array.from({ length: 400 }, (_, i) => ({ level: "info", message: `line ${i + 2}` })));
    await publish(s.base, "burst", { level: "success", message: "end", finished: true });
    await seen.until("finished", () => seen.statuses.at(-1) === "finished");
    assert.deepEqual(seen.logs.map((e) => e.seq), Array.from({ length: 402 }, (_, i) => i + 1));
    assert.equal(seen.logs[400].message, "line 401");
  } finally {
    await s.close();
  }
});

test("resumes after the server closes with 1001, nothing lost or twice", async () => {
  const s = await serve();
  try {
    await publish(s.base, "long", { level: "info", message: "m1" });
    const seen = follow("long", { baseUrl: s.base });
    await seen.until("m1", () => seen.logs.length === 1);
    await s.stop(); // a deploy: viewers get 1001
    await s.start();
    await publish(s.base, "long", { level: "info", message: "m2" });
    await publish(s.base, "long", { level: "success", message: "m3", finished: true });
    await seen.until("finished", () => seen.statuses.at(-1) === "finished");
    assert.deepEqual(seen.logs.map((e) => [e.seq, e.message]), [[1, "m1"], [2, "m2"], [3, "m3"]]);
    assert.ok(seen.statuses.includes("reconnecting"), JSON.stringify(seen.statuses));
  } finally {
    await s.close();
  }
});

test("a restart of the task: an epoch gap, a new hello, numbering from 1", async () => {
  const s = await serve();
  try {
    await publish(s.base, "again", { level: "info", message: "first run" });
    const seen = follow("again", { baseUrl: s.base });
    await seen.until("first run", () => seen.logs.length === 1);
    assert.equal((await fetch(`${s.base}/v1/tasks/again/restart`, { method: "POST" })).status, 200);
    await publish(s.base, "again", { level: "info", message: "second run" });
    await seen.until("second run", () => seen.logs.length === 2);
    assert.equal(seen.gaps[0].reason, "epoch");
    assert.equal(seen.hellos.length, 2);
    assert.notEqual(seen.hellos[0].epoch, seen.hellos[1].epoch);
    assert.deepEqual([seen.logs[1].seq, seen.logs[1].message], [1, "second run"]);
    seen.close();
  } finally {
    await s.close();
  }
});

test("a refusal is an error, not a silent retry", async () => {
  const key = "pk-0123456789abcdef";
  const s = await serve("--publish-keys", key, "--token-secret", "0123456789abcdef0123456789abcdef");
  try {
    await publish(s.base, "private", { level: "info", message: "x" }, key);
    const seen = follow("private", { baseUrl: s.base, token: "not-a-token" });
    await seen.until("refused", () => seen.statuses.at(-1) === "refused");
    assert.equal(seen.errors.length, 1);
    assert.equal(seen.errors[0].status, 401);
    assert.match(seen.errors[0].message, /not valid/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(seen.statuses.filter((st) => st === "reconnecting").length, 0, JSON.stringify(seen.statuses));
  } finally {
    await s.close();
  }
});
