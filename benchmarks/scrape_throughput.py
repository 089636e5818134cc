"""Images/s of the web downloader: 16 workers against one at a time.

Serves small PNGs from loopback servers (one per host, 127.0.0.1 ... 127.0.0.H) that
add ~20 ms latency to every answer, in a separate process so the servers do not
compete with the downloader for the GIL. Runs the real path: Fetcher (robots,
per-host limit) -> download pool -> RawStore (decode, hash, atomic write).

    python -m benchmarks.scrape_throughput [--images 320] [--hosts 16] [--latency 0.02]
"""
from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

from pipeline.sources.store import RawStore
from pipeline.sources.download import Candidate, download
from pipeline.sources.http import Fetcher


def _serve(hosts: int, latency: float, n: int, ready) -> None:
    # Encoded up front: the server shares the CPU with the downloader and should not tax it.
    images = []
    for seed in range(n):
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(seed).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
        images.append(buf.getvalue())

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like real servers
        disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms ACK stalls

        def do_GET(self):
            time.sleep(latency)
            if self.path == "/robots.txt":
                body, kind = b"User-agent: *\nDisallow:\n", "text/plain"
            else:
                body, kind = images[int(self.path.strip("/").split(".")[0])], "image/png"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    import threading
    servers = [ThreadingHTTPServer((f"127.0.0.{h + 1}", 0), Handler) for h in range(hosts)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    ready.send([f"http://127.0.0.{h + 1}:{s.server_address[1]}" for h, s in enumerate(servers)])
    threading.Event().wait()


def rate(bases: list[str], n: int, workers: int, offset: int) -> tuple[float, float]:
    """(images/s, downloader CPU ms per image) storing ``n`` distinct images spread over the hosts with ``workers`` threads."""
    fetcher = Fetcher("benchmark@example.org", workers=workers, per_host=2, delay=0.0, retries=0,
                      allow_private=True)  # the servers are on loopback
    urls = [Candidate(f"{bases[i % len(bases)]}/{offset + i}.png") for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        store = RawStore(tmp, min_side=32)
        for base in bases:  # robots.txt once per host, outside the timing
            fetcher.get(base + "/robots.txt")
        start, cpu = time.perf_counter(), time.process_time()
        stored, rejected = download(urls, store, fetcher, source="bench", desc=f"{workers} workers")
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    fetcher.close()
    assert stored == n and rejected == 0, (stored, rejected)
    return n / seconds, 1000 * cpu / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=320)
    ap.add_argument("--hosts", type=int, default=16)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--workers", type=int, default=16)
    args = ap.parse_args()
    ours, theirs = mp.Pipe()
    server = mp.Process(target=_serve, args=(args.hosts, args.latency, 2 * args.images, theirs), daemon=True)
    server.start()
    bases = ours.recv()
    serial = rate(bases, args.images // 4, 1, 0)  # fewer images: one at a time is slow
    parallel = rate(bases, args.images, args.workers, args.images)
    server.terminate()
    print(f"{args.hosts} hosts, {args.latency * 1000:.0f} ms latency, per_host=2, delay=0")
    print(f"1 worker:   {serial[0]:7.1f} images/s")
    print(f"{args.workers} workers: {parallel[0]:7.1f} images/s")
    print(f"speedup:    {parallel[0] / serial[0]:7.1f}x (target >= 10x)")
    # With enough workers the rate is bound by CPU, not latency: say how much each image costs.
    print(f"downloader CPU: {parallel[1]:.2f} ms/image on {os.cpu_count()} cores "
          f"(load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
