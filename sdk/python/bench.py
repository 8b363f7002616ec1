"""Publisher against one POST per message, in one run, against a running tasktail server.

Each mode publishes to a task of its own whose viewer is `tasktail tail` (Go: the viewer
is never the bottleneck); a mode ends when the viewer has received the final message. It
reports messages delivered per second and the server's CPU per message (utime+stime of
its process). Usage: python3 bench.py URL SERVER_PID TASKTAIL_BIN [PUBLISHER_N] [POST_N]
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from tasktail import Publisher  # noqa: E402

url, pid, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
publisher_n = int(sys.argv[4]) if len(sys.argv) > 4 else 200_000
post_n = int(sys.argv[5]) if len(sys.argv) > 5 else 5_000
message = "rows 10000-20000 imported into customers (batch of the nightly import)"  # ~70 bytes


def server_cpu() -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(mode: str, n: int, publish) -> dict:
    task = f"bench-{mode}-{int(time.time())}"
    out = f"/tmp/tasktail-bench-{os.getpid()}-{mode}.json"
    with open(out, "wb") as f:
        viewer = subprocess.Popen([binary, "tail", task, "--wait", "-o", "json", "--server", url], stdout=f)
    time.sleep(0.3)  # the viewer connects before the first message (it waits for it)
    cpu0, t0 = server_cpu(), time.monotonic()
    publish(task, n)
    viewer.wait()
    elapsed, cpu = time.monotonic() - t0, server_cpu() - cpu0
    with open(out, "rb") as f:
        delivered = sum(1 for line in f if b'"type":"log"' in line)
    os.remove(out)
    return {"mode": mode, "messages": n, "delivered": delivered, "seconds": round(elapsed, 2),
            "msg_per_s": round(delivered / elapsed), "server_us_per_msg": round(cpu / delivered * 1e6, 1)}


def with_publisher(task: str, n: int) -> None:
    with Publisher(url) as pub:
        for i in range(1, n):
            pub.log(task, "info", message)
        pub.log(task, "success", "done", progress=100, finished=True)


def one_post_each(task: str, n: int) -> None:
    # What examples/python/publish.py and the original users do: a new request (and
    # connection) per message, as requests.post without a session does.
    for i in range(1, n + 1):
        body = {"level": "success", "message": "done", "finished": True} if i == n else {"level": "info", "message": message}
        req = urllib.request.Request(f"{url}/v1/tasks/{task}/logs", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req).read()


results = [run("publisher", publisher_n, with_publisher), run("post-per-message", post_n, one_post_each)]
for r in results:
    print(json.dumps(r))
print(f"ratio of delivered msg/s: {results[0]['msg_per_s'] / results[1]['msg_per_s']:.1f}x; "
      f"server CPU per message: {results[1]['server_us_per_msg'] / results[0]['server_us_per_msg']:.1f}x less with the Publisher")
