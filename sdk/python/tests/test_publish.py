"""Client and Publisher against the real tasktail serve."""
import http.server
import logging
import threading
import time

import pytest

from tasktail import Client, NotFound, Publisher, TaskFinished, TasktailHandler, InvalidArgument


def lines_of(client: Client, task_id: str):
    """The messages of a task's log, in order."""
    return [line.split(" ", 2)[2] for line in client.logs(task_id).splitlines()]


def test_client_round_trip(server):
    c = Client(server.url)
    ack = c.publish("c1", "info", "hello", progress=10)
    assert ack["seq"] == 1 and ack["queued"] is True
    assert c.publish_batch("c1", [{"level": "warning", "message": "a"}, {"level": "info", "message": "b"}])["last_seq"] == 3
    st = c.status("c1")
    assert st["last_seq"] == 3 and st["progress"] == 10  # a message without progress keeps it
    with pytest.raises(InvalidArgument):
        c.publish_batch("c1", [{"level": "nope", "message": "x"}])
    c.publish("c1", "success", "done", finished=True)
    with pytest.raises(TaskFinished):
        c.publish("c1", "info", "late")
    assert c.restart("c1")
    assert [t["task_id"] for t in c.list(prefix="c")["tasks"]] == ["c1"]
    c.delete("c1")
    with pytest.raises(NotFound):
        c.status("c1")
    c.close()


def test_10000_messages_from_8_threads_arrive_once_in_order(server):
    per_thread = 1250
    with Publisher(server.url) as pub:
        def job(n: int) -> None:
            for i in range(1, per_thread + 1):
                assert pub.log(f"job-{n}", "info", f"line {i}")

        threads = [threading.Thread(target=job, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert pub.flush(timeout=30)
        assert pub.dropped == 0
    c = Client(server.url)
    for n in range(8):
        assert lines_of(c, f"job-{n}") == [f"line {i}" for i in range(1, per_thread + 1)]


def test_server_down_never_blocks_the_job_and_drops_are_reported(server):
    pub = Publisher(server.url, buffer=50, block_timeout=0.1, max_retry=0.2)
    pub.log("outage", "info", "before")
    assert pub.flush(timeout=10)
    server.stop()
    slowest = 0.0
    down_until = time.monotonic() + 3
    sent = 0
    while time.monotonic() < down_until:
        began = time.monotonic()
        pub.log("outage", "info", f"during {sent}")
        slowest = max(slowest, time.monotonic() - began)
        sent += 1
        time.sleep(0.002)
    server.start()
    assert pub.flush(timeout=30)  # the note of the drops goes once the server is back
    dropped = pub.dropped
    pub.log("outage", "info", "after")
    pub.close()
    assert slowest < 0.25, f"log() blocked {slowest:.3f}s while the server was down"
    assert dropped > 0
    lines = lines_of(Client(server.url), "outage")
    notes = [l for l in lines if "dropped here" in l]
    assert notes == [f"tasktail: {dropped} messages dropped here: the server was slow or unreachable"]
    # Everything not dropped arrived, in order, and the note stands where lines are missing.
    kept = [l for l in lines if l.startswith("during ")]
    assert len(kept) + dropped == sent
    assert kept == sorted(kept, key=lambda l: int(l.split()[1]))
    assert lines[0] == "before" and lines[-1] == "after" and lines[-2] == notes[0]


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Answers the first publish 503 (or 429) with Retry-After: 1, then 202."""
    status = 503
    times = []

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).times.append(time.monotonic())
        if len(type(self).times) == 1:
            code = "unavailable" if self.status == 503 else "rate_limited"
            body = b'{"error":{"code":"%s","message":"busy"}}' % code.encode()
            self.send_response(self.status)
            self.send_header("Retry-After", "1")
        else:
            body = b'{"task_id":"t","first_seq":1,"last_seq":1,"queued":true}'
            self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(status):
    handler = type("H", (_Refusing,), {"status": status, "times": []})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with Publisher(f"http://127.0.0.1:{srv.server_port}") as pub:
            pub.log("t", "info", "x")
            assert pub.flush(timeout=10)
        assert len(handler.times) == 2
        assert handler.times[1] - handler.times[0] >= 0.95, "retried before Retry-After"
    finally:
        srv.shutdown()


def test_handler_maps_levels_and_extra(server):
    pub = Publisher(server.url)
    logger = logging.getLogger("tasktail-test")
    logger.setLevel(logging.DEBUG)
    handler = TasktailHandler("report", publisher=pub)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    try:
        logger.debug("d")
        logger.info("i", extra={"progress": 40})
        logger.warning("w")
        logger.error("e")
        logger.critical("c")
        logger.info("other task", extra={"task_id": "elsewhere"})
        logger.info("s", extra={"level": "success", "progress": 100, "finished": True})
        assert pub.flush(timeout=10)
    finally:
        logger.removeHandler(handler)
        pub.close()
    c = Client(server.url)
    got = [line.split(" ", 2)[1:] for line in c.logs("report").splitlines()]
    assert got == [["debug", "d"], ["info", "i"], ["warning", "w"], ["error", "e"], ["critical", "c"], ["success", "s"]]
    st = c.status("report")
    assert st["finished"] is True and st["progress"] == 100
    assert lines_of(c, "elsewhere") == ["other task"]


def test_attributes_reach_the_log(server):
    import datetime
    import json as _json

    c = Client(server.url)
    old = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    c.publish("attrs", "info", "Build", section="start")
    c.publish("attrs", "info", "10%", stream="stderr")
    c.publish("attrs", "info", "90%", stream="stderr", update=True)
    p = Publisher(c)
    p.log("attrs", "info", "backfilled", timestamp=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1))
    p.log("attrs", "info", "", section="end")
    assert p.flush(10)
    p.close()
    frames = [_json.loads(line) for line in c._request("GET", "/v1/tasks/attrs/log?format=ndjson", raw=True).splitlines()]
    assert [(f["message"], f.get("stream"), f.get("update"), f.get("section")) for f in frames] == [
        ("Build", None, None, "start"), ("10%", "stderr", None, None), ("90%", "stderr", True, None),
        ("backfilled", None, None, None), ("", None, None, "end")]
    assert "received" in frames[3] and frames[3]["timestamp"] < frames[3]["received"]
    with pytest.raises(InvalidArgument):
        c.publish("attrs", "info", "x", timestamp=old - datetime.timedelta(days=400))
    with pytest.raises(ValueError):
        c.publish("attrs", "info", "x", section="middle")
