"""The load profile (not a test): locust's shoppers against a running platform, the floor beside them.

    make run                                   # in another terminal: the platform on :5000
    make load-profile LOAD_ARGS="[--host http://127.0.0.1:5000] [--users 16] [--seconds 60]
        [--out docs/load] [--no-floor]"

(`make load-profile` installs locust into .venv-load from requirements-load.txt and passes
`--locust .venv-load/bin/locust`: locust and gevent stay out of the test suite's virtualenv.)

In one run it
1. runs ../shared/floor/run.sh (wrk, 16 connections) on its own floor servers and on the platform's
   product GET and catalog listing, so the floor rows and the platform's come from the same run;
2. runs tests/load/locustfile.py headless: `--users` shoppers browsing and searching (weight 10),
   reading a product and its reviews (5), adding to the cart (3) and checking out (1);
3. prints requests/s, p50/p95/p99 and the error rate per endpoint, and writes them with the floor
   rows to `<out>/profile.json`, and as a chart to `<out>/profile.svg` (the README shows it) and
   `<out>/profile.html`.

The platform must be reachable on loopback only (the floor kit refuses anything else). Locust's
shoppers are users with think time, not a closed loop like wrk: compare the floor's rows with the
wrk rows of the platform's URLs, and read locust's rows as what the mix costs.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.platform import FLOOR, ROOT, run_floor

LOCUSTFILE = ROOT / "tests" / "load" / "locustfile.py"
LOCUST = ROOT / ".venv-load" / "bin" / "locust"
ORDER = ["browse", "search", "product", "reviews", "cart add", "checkout"]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.loads(reply.read())


def floor_rows(host: str, product: int) -> list[dict[str, Any]]:
    """The floor kit's table, parsed: one row per URL it measured (floor and platform alike)."""
    urls = [
        f"product={host}/api/products/{product}",
        f"listing={host}/api/catalog/products/?page_size=24",
    ]
    done = run_floor(urls, timeout=900)
    if done is None:
        print(f"floor: {FLOOR} not found, skipped")
        return []
    print(done.stdout)
    if done.returncode:
        print(f"floor run failed ({done.returncode}): {done.stderr[-800:]}")
        return []
    rows, table = [], False
    for line in done.stdout.splitlines():
        if line.startswith("name"):
            table = True
            continue
        if not table or line.startswith(("-", "WARNING", "Ratios")) or not line.strip():
            continue
        name, rps, p50, p99, errors, *_ = line.split()
        rows.append(
            {
                "name": name,
                "rps": _number(rps),
                "p50_ms": _number(p50),
                "p99_ms": _number(p99),
                "errors": int(errors),
            }
        )
    return rows


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def locust_rows(locust: Path, host: str, users: int, seconds: int) -> list[dict[str, Any]]:
    if not locust.exists():
        raise SystemExit(f"{locust} not found: `make load-profile` installs locust there")
    with tempfile.TemporaryDirectory(prefix="shop-load-") as folder:
        prefix = Path(folder) / "run"
        argv = [
            str(locust), "-f", str(LOCUSTFILE), "--headless",
            "-u", str(users), "-r", str(max(1, users // 4)), "-t", f"{seconds}s",
            "--host", host, "--csv", str(prefix), "--only-summary", "--exit-code-on-error", "0",
            "--loglevel", "WARNING",
        ]  # fmt: skip
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 300)
        stats = prefix.with_name("run_stats.csv")
        if done.returncode or not stats.exists():
            raise SystemExit(f"locust failed ({done.returncode}): {done.stderr[-1500:]}")
        with stats.open() as handle:
            found = list(csv.DictReader(handle))
    rows = []
    for row in found:
        count, failures = int(row["Request Count"]), int(row["Failure Count"])
        rows.append(
            {
                "name": row["Name"] if row["Name"] != "Aggregated" else "all",
                "method": row["Type"],
                "requests": count,
                "failures": failures,
                "error_rate": round(failures / count, 4) if count else 0.0,
                "rps": round(float(row["Requests/s"]), 1),
                "p50_ms": _number(row["50%"]),
                "p95_ms": _number(row["95%"]),
                "p99_ms": _number(row["99%"]),
            }
        )
    rank = {name: i for i, name in enumerate([*ORDER, "all"])}
    return sorted(rows, key=lambda r: rank.get(r["name"], len(rank)))


def chart(profile: dict[str, Any]) -> str:
    """Horizontal bars of p50/p95/p99 per endpoint (locust) and per floor row, with req/s."""
    rows = [
        (
            r["name"],
            r["p50_ms"],
            r["p95_ms"],
            r["p99_ms"],
            f"{r['rps']:g} req/s, {100 * r['error_rate']:.1f} % err",
        )
        for r in profile["locust"]
    ]
    rows += [
        (f"wrk {r['name']}", r["p50_ms"], None, r["p99_ms"], f"{r['rps']:g} req/s") for r in profile["floor"]
    ]
    top = max((v for row in rows for v in row[1:4] if v), default=1.0)
    label_w, bar_w, row_h = 150, 520, 44
    height = 60 + row_h * len(rows) + 30
    colours = {"p50": "#2b8a3e", "p95": "#e67700", "p99": "#c92a2a"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 190}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">{html.escape(profile["title"])}</text>',
        f'<text x="10" y="38" fill="#555">{html.escape(profile["subtitle"])}</text>',
    ]
    for i, (name, *latencies, rps) in enumerate(rows):
        y = 56 + i * row_h
        parts.append(f'<text x="10" y="{y + 20}">{html.escape(name)}</text>')
        for j, (key, value) in enumerate(zip(("p50", "p95", "p99"), latencies, strict=True)):
            if value is None:
                continue
            width = max(1.0, bar_w * value / top)
            top_y = y + j * 12
            parts.append(
                f'<rect x="{label_w}" y="{top_y}" width="{width:.1f}" height="10" fill="{colours[key]}"/>'
                f'<text x="{label_w + width + 4:.1f}" y="{top_y + 9}" font-size="10">'
                f"{key} {value:g} ms</text>"
            )
        parts.append(f'<text x="{label_w + bar_w + 30}" y="{y + 20}">{rps}</text>')
    parts.append(
        f'<text x="10" y="{height - 10}" fill="#555">bars: p50 (green), p95 (orange), p99 (red); '
        "wrk rows: ../shared/floor/run.sh, same run</text></svg>"
    )
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="http://127.0.0.1:5000")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "load")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--locust", type=Path, default=LOCUST, help="the locust executable")
    args = parser.parse_args()
    host = args.host.rstrip("/")
    if _get(f"{host}/api/health").get("status") != "ok":
        raise SystemExit(f"{host} is not healthy")
    product = int(next(iter(_get(f"{host}/api/products/?page_size=1"))))  # keyed by id, as documented
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    floor = [] if args.no_floor else floor_rows(host, product)
    shoppers = locust_rows(args.locust, host, args.users, args.seconds)
    profile: dict[str, Any] = {
        "title": f"Load profile: {args.users} locust shoppers for {args.seconds} s against {host}",
        "subtitle": f"{started}, {os.cpu_count()} cores; weights browse/search 10, product+reviews 5, "
        "cart add 3, checkout 1",
        "locust": shoppers,
        "floor": floor,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "profile.json").write_text(json.dumps(profile, indent=2) + "\n")
    svg = chart(profile)
    (args.out / "profile.svg").write_text(svg + "\n")
    (args.out / "profile.html").write_text(
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(profile['title'])}</title>\n{svg}\n"
        f"<pre>{html.escape(json.dumps(profile, indent=2))}</pre>\n"
    )
    print(f"{'endpoint':<18}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>9}")
    for r in shoppers:
        print(
            f"{r['name']:<18}{r['rps']:>8g}{r['p50_ms'] or 0:>9g}{r['p95_ms'] or 0:>9g}{r['p99_ms'] or 0:>9g}"
            f"{100 * r['error_rate']:>8.1f}%"
        )
    print(f"written: {args.out / 'profile.json'}, profile.svg, profile.html")


if __name__ == "__main__":
    main()
