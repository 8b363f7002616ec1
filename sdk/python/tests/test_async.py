"""AsyncPublisher inside a running event loop, and tail()/atail()."""
import asyncio

from tasktail import AsyncPublisher, Client, atail, tail


def test_async_publisher_in_a_running_loop(server):
    async def job():
        async with AsyncPublisher(server.url) as pub:
            for i in range(1, 2001):
                assert await pub.log("async-job", "info", f"step {i}", progress=i / 20)
            await pub.log("async-job", "success", "done", progress=100, finished=True)
        return pub.dropped

    assert asyncio.run(job()) == 0
    st = Client(server.url).status("async-job")
    assert st["last_seq"] == 2001 and st["finished"] is True and st["progress"] == 100


def test_tail_resumes_and_ends(server):
    c = Client(server.url)
    for i in range(1, 6):
        c.publish("followed", "info", f"m{i}")
    frames = tail("followed", since=2, base_url=server.url)
    assert next(frames)["type"] == "hello"
    assert [next(frames)["seq"] for _ in range(3)] == [3, 4, 5]
    server.stop()  # the viewer gets 1001 and reconnects once the server is back
    server.start()
    c = Client(server.url)
    c.publish("followed", "success", "end", finished=True)
    rest = list(frames)
    logs = [f for f in rest if f["type"] == "log"]
    assert [f["message"] for f in logs] == ["end"] and logs[0]["seq"] == 6
    assert [f["type"] for f in rest].count("hello") == 1


def test_atail_yields_in_a_loop(server):
    Client(server.url).publish("a1", "success", "only", finished=True)

    async def follow():
        return [f async for f in atail("a1", base_url=server.url)]

    frames = asyncio.run(follow())
    assert [f["type"] for f in frames] == ["hello", "log"]


def test_tail_reads_a_burst_in_order(server):
    # A burst reaches tail() as batches (several frames per WebSocket message): every
    # frame is yielded once, in order.
    c = Client(server.url)
    c.publish_batch("burst", [{"level": "info", "message": f"line {i}"} for i in range(1, 401)])
    c.publish("burst", "success", "end", finished=True)
    frames = list(tail("burst", since=0, base_url=server.url))
    assert frames[0]["type"] == "hello"
    assert [f["seq"] for f in frames[1:]] == list(range(1, 402))
    assert frames[400]["message"] == "line 400" and frames[-1]["finished"] is True
