"""Benchmark `mcp-gitops sessions` (issue 7): 100,000 session keys scanned and classified.

    .venv/bin/python bench/bench_sessions.py [--keys 100000] [--format proxy|vmcp] [--noise 0] [--runs 3]
                                             [--redis-url redis://127.0.0.1:PORT]

Target: <= 3 s for 100,000 keys. Without --redis-url a private redis-server is started on a free port
(and stopped afterwards); with one, the keys go under a fresh prefix there and are deleted afterwards.
Reports the in-process measurement (`measure_sessions`, the library the CLI and the daemon share), the
whole command in a fresh process, and the floor on the same data: `redis-cli --scan --pattern 'PREFIX*'
| wc -l`, which only lists the keys.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_S = 3.0
PODS = [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(20)]
INIT_BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {"roots": {"listChanged": True}, "sampling": {}},
            "clientInfo": {"name": "bench-client", "version": "1.0.0"},
        },
    }
)


def proxy_value(rng: random.Random, sid: str) -> bytes:
    roll = rng.random()
    metadata = {"init_body": INIT_BODY}
    if roll < 0.7:
        metadata["backend_url"] = f"http://{rng.choice(PODS)}:8080"
        metadata["backend_sid"] = uuid.UUID(int=rng.getrandbits(128)).hex
    elif roll < 0.9:
        metadata["backend_url"] = "http://mcp-bench:8080"
    value = {
        "id": sid,
        "type": "sse" if roll >= 0.9 else "mcp",
        "created_at": "2026-11-23T10:00:00Z",
        "updated_at": "2026-11-23T10:05:00Z",
        "metadata": metadata,
    }
    return json.dumps(value).encode()


def vmcp_value(rng: random.Random, sid: str) -> bytes:
    roll = rng.random()
    if roll < 0.05:
        return b"{}"
    value = {
        "vmcp.backend.ids": "github,jira,weather",
        "vmcp.identity.binding": "https://issuer.example.com\x00user-" + sid[:8],
        "vmcp.backend.session.github": sid,
        "vmcp.backend.session.jira": sid,
        "vmcp.backend.session.weather": sid,
    }
    if roll < 0.08:
        value["terminated"] = "true"
    return json.dumps(value).encode()


def seed(client: Any, prefix: str, keys: int, fmt: str, noise: int) -> None:
    rng = random.Random(7)
    make = proxy_value if fmt == "proxy" else vmcp_value
    ttl_ms = 7_200_000 if fmt == "proxy" else 1_800_000
    pipe = client.pipeline(transaction=False)
    for i in range(keys):
        sid = str(uuid.UUID(int=rng.getrandbits(128)))
        pipe.set(prefix + sid, make(rng, sid), px=rng.randint(120_000, ttl_ms))
        if i % 10_000 == 9_999:
            pipe.execute()
    for i in range(noise):  # other users of the same Redis: SCAN walks past them
        pipe.set(f"noise:{prefix}{i}", b"x", px=3_600_000)
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()


def cleanup(client: Any, prefix: str) -> None:
    for pattern in (prefix + "*", f"noise:{prefix}*"):
        batch = []
        for key in client.scan_iter(match=pattern, count=5000):
            batch.append(key)
            if len(batch) == 5000:
                client.unlink(*batch)
                batch = []
        if batch:
            client.unlink(*batch)


def floor(host: str, port: int, password: str | None, prefix: str) -> tuple[float, int]:
    """`redis-cli --scan --pattern 'PREFIX*' | wc -l`: listing the keys and nothing more."""
    env = dict(os.environ, REDISCLI_AUTH=password) if password else None
    command = f"redis-cli -h {host} -p {port} --scan --pattern '{prefix}*' | wc -l"
    start = time.perf_counter()
    done = subprocess.run(command, shell=True, capture_output=True, text=True, check=True, env=env)
    return time.perf_counter() - start, int(done.stdout.strip())


def write_repo(directory: Path, address: str, prefix: str, fmt: str) -> Path:
    kind = "MCPServer" if fmt == "proxy" else "VirtualMCPServer"
    (directory / "manifests").mkdir(parents=True)
    (directory / "mcp-gitops.yaml").write_text("manifests: [manifests]\nnamespace: bench\n")
    (directory / "manifests" / "bench.yaml").write_text(
        f"apiVersion: toolhive.stacklok.dev/v1beta1\nkind: {kind}\nmetadata:\n  name: bench\nspec:\n"
        f"  sessionStorage:\n    provider: redis\n    address: '{address}'\n    keyPrefix: '{prefix}'\n"
    )
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--format", dest="fmt", choices=["proxy", "vmcp"], default="proxy")
    parser.add_argument("--noise", type=int, default=0, help="other keys in the same db")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()

    from reconciler.sessions import MeasureOptions, ServerSpec, SessionStorage, measure_sessions
    from tests.harness.redis import RedisServer, _from_url, start_private

    workdir = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    server: RedisServer = _from_url(args.redis_url) if args.redis_url else start_private(workdir / "redis")
    prefix = f"bench-{uuid.uuid4().hex[:8]}:{args.fmt}:"
    client = server.client()
    try:
        start = time.perf_counter()
        seed(client, prefix, args.keys, args.fmt, args.noise)
        print(
            f"seeded {args.keys:,} {args.fmt} keys (+{args.noise:,} others) "
            f"in {time.perf_counter() - start:.1f} s"
        )
        kind = "MCPServer" if args.fmt == "proxy" else "VirtualMCPServer"
        spec = ServerSpec(kind, "bench", "bench", SessionStorage(server.address, server.db, prefix))
        from reconciler.sessions import GivenPassword

        options = MeasureOptions(
            password=GivenPassword(server.password, "bench") if server.password else None
        )

        walls: list[float] = []
        report = None
        for _ in range(args.runs):
            start = time.perf_counter()
            report = measure_sessions([spec], options)
            walls.append(time.perf_counter() - start)
        assert report is not None
        group = report.prefixes[0]
        assert group.sessions == args.keys, (group.sessions, group.unparseable, report.findings)

        repo = write_repo(workdir / "repo", server.address, prefix, args.fmt)
        exe = Path(sys.executable).parent / "mcp-gitops"
        env = dict(os.environ, MCP_GITOPS_REDIS_PASSWORD=server.password or "")
        cli_walls = []
        for _ in range(args.runs):
            start = time.perf_counter()
            done = subprocess.run(
                [str(exe), "sessions", str(repo), "--no-cluster", "--format", "json"],
                capture_output=True,
                env=env,
            )
            cli_walls.append(time.perf_counter() - start)
            assert done.returncode == 0, done.stderr[-2000:]

        floors = [floor(server.host, server.port, server.password, prefix) for _ in range(args.runs)]
        assert all(count == args.keys for _, count in floors), floors

        median = statistics.median(walls)
        print(
            f"measure_sessions (scan + GET/PTTL + classify), {args.keys:,} keys: median {median:.2f} s "
            f"(runs {', '.join(f'{w:.2f}' for w in walls)}); target <= {TARGET_S:.0f} s: "
            f"{'OK' if median <= TARGET_S else 'MISSED'}"
        )
        print(
            f"  {args.keys / median:,.0f} keys/s; the last run's scan itself took {group.scan_seconds:.2f} s"
        )
        print(
            "mcp-gitops sessions (fresh process, imports included): "
            f"median {statistics.median(cli_walls):.2f} s"
        )
        print(
            f"floor: redis-cli --scan --pattern '{prefix}*' | wc -l: median "
            f"{statistics.median(w for w, _ in floors):.2f} s ({floors[0][1]:,} keys)"
        )
    finally:
        cleanup(client, prefix)
        client.close()
        if server.private:
            server.stop()


if __name__ == "__main__":
    main()
