#!/usr/bin/env python3
"""Prints the benchmark table and writes the JSON file.

Usage: report.py RESULTS_JSONL META_JSON OUT_JSON
RESULTS_JSONL has one object per measured run (see scripts/bench.sh); META_JSON holds
the figures that are not per run (memory, start-up, binary size, machine).
"""

import json
import sys

# Each endpoint and the ceiling it is compared with.
ORDER = [
    ("GET /healthz", None),
    ("point-select (mariadb-slap)", None),
    ("GET /", "GET /healthz"),
    ("POST /fetchdata", "point-select (mariadb-slap)"),
    ("POST /fetchdata over TLS (verify-identity)", "POST /fetchdata"),
    ("POST /addemp", "GET /healthz"),
    ("GET /employees", "GET /healthz"),
    # Issue 13: the cost of metrics and traces, against the same app with metrics off.
    ("GET / (metrics off)", None),
    ("GET / (metrics on)", "GET / (metrics off)"),
    ("GET / (metrics on, traces 10%)", "GET / (metrics off)"),
    ("POST /fetchdata (metrics off)", None),
    ("POST /fetchdata (metrics on)", "POST /fetchdata (metrics off)"),
    ("POST /fetchdata (metrics on, traces 10%)", "POST /fetchdata (metrics off)"),
    ("POST /fetchdata via HAProxy, at rest", None),
    ("POST /fetchdata via HAProxy, rolling restart", "POST /fetchdata via HAProxy, at rest"),
]


def normalise(run):
    """Adds the figures the table shows to one raw run."""
    if run["tool"] == "wrk":
        w = run["wrk"]
        run["rps"] = w["requests"] / (w["duration_us"] / 1e6)
        run["errors"] = w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
        run["non_2xx"] = w["non_2xx"]
        run["p50_us"], run["p99_us"] = w["p50_us"], w["p99_us"]
    else:
        # mariadb-slap stops at the first failed query, so a finished run had none.
        run["rps"] = run["connections"] * run["queries_per_client"] / run["seconds"]
        run["errors"] = 0
        run["non_2xx"] = None
        run["p50_us"] = run["p99_us"] = None
    run["rps"] = round(run["rps"], 1)


def ms(us):
    return "-" if us is None else f"{us / 1000:.2f} ms"


# GET /employees before issue 12 (a COUNT(*) and a page query per request, each with a
# pooled connection's return ping), as the issue measured it on this kind of machine.
EMPLOYEES_BEFORE_RPS = 1500


def peak_memory_steps(runs):
    """Which runs raised the first instance's peak memory, and to what."""
    steps, last = [], 0
    for run in runs:
        hwm = run.get("app_peak_rss_kib")
        if hwm and hwm > last:
            steps.append(f"{run['endpoint']} at {run['connections']}: {hwm / 1024:.1f} MiB")
            last = hwm
    return "raised by: " + ("; ".join(steps) if steps else "-")


def print_goals(runs, by_key, meta):
    """The issue 12 goals, each with its figure from this run."""
    def verdict(ok):
        return "met" if ok else "NOT met"

    print("goals (issue 12):")
    for run in runs:
        if (run["endpoint"] == "POST /fetchdata" and run["ratio_to_ceiling"] is not None
                and run["connections"] > 1):
            ratio = run["ratio_to_ceiling"]
            print(
                f"  POST /fetchdata at {run['connections']}: {ratio:.2f}x mariadb-slap's point-select "
                f"rate (goal >= 1.0x, floor 0.5x): {verdict(ratio >= 1.0)}"
            )
        if run["endpoint"] == "POST /fetchdata" and run["connections"] >= 256 and run["p99_over_p50"]:
            print(
                f"  POST /fetchdata at {run['connections']}: p99 {run['p99_over_p50']:.2f}x p50 "
                f"(goal <= 2x): {verdict(run['p99_over_p50'] <= 2)}"
            )
        if run["endpoint"] == "GET /" and run["ratio_to_ceiling"] is not None:
            print(
                f"  GET / at {run['connections']}: {run['ratio_to_ceiling']:.0%} of /healthz "
                f"(goal >= 80%): {verdict(run['ratio_to_ceiling'] >= 0.8)}"
            )
        if run["endpoint"] == "GET /employees":
            times = run["rps"] / EMPLOYEES_BEFORE_RPS
            print(
                f"  GET /employees at {run['connections']}: {run['rps']:,.0f} req/s, {times:.1f}x the "
                f"{EMPLOYEES_BEFORE_RPS:,} req/s before (goal >= 10x): {verdict(times >= 10)}"
            )
    single = by_key.get(("POST /fetchdata", 1))
    if single:
        print(
            f"  POST /fetchdata at 1 connection: p50 {ms(single['p50_us'])}, p99 {ms(single['p99_us'])} "
            "(no company to batch with: compare with earlier runs, it must not regress)"
        )
    failed = sum(r["errors"] + (r["non_2xx"] or 0) for r in runs)
    print(f"  errors and answers >= 400, all runs: {failed} (goal 0): {verdict(failed == 0)}")
    rss_mb = meta["peak_rss_kib"] * 1024 / 1e6
    print(f"  peak resident memory: {rss_mb:.1f} MB (goal <= 20 MB): {verdict(rss_mb <= 20)}")
    print(f"    {peak_memory_steps(runs)}")
    if meta.get("read_batches"):
        print(f"  lookups and list pages per database query, whole run: {meta['read_batches']}")
    print()


def main() -> int:
    results_path, meta_path, out_path = sys.argv[1:4]
    with open(results_path, encoding="utf-8") as f:
        runs = [json.loads(line) for line in f if line.strip()]
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    for run in runs:
        normalise(run)
    by_key = {(r["endpoint"], r["connections"]): r for r in runs}
    connections = sorted({r["connections"] for r in runs})

    for run in runs:
        ceiling = dict(ORDER).get(run["endpoint"])
        base = by_key.get((ceiling, run["connections"])) if ceiling else None
        run["ceiling"] = ceiling
        run["ratio_to_ceiling"] = (
            round(run["rps"] / base["rps"], 3) if base and base["rps"] else None
        )
        p50, p99 = run.get("p50_us"), run.get("p99_us")
        run["p99_over_p50"] = round(p99 / p50, 2) if p50 and p99 else None

    header = ("endpoint", "conns", "req/s", "p50", "p99", "errors", "non-2xx", "vs ceiling")
    rows = []
    for endpoint, ceiling in ORDER:
        for conns in connections:
            run = by_key.get((endpoint, conns))
            if run is None:
                continue
            if ceiling is None:
                versus = "(ceiling)"
            elif run["ratio_to_ceiling"] is None:
                versus = "-"
            else:
                versus = f"{run['ratio_to_ceiling'] * 100:.0f}% of {ceiling.split(' (')[0]}"
            rows.append((
                endpoint, str(conns), f"{run['rps']:,.0f}", ms(run.get("p50_us")),
                ms(run.get("p99_us")), str(run["errors"]),
                "-" if run.get("non_2xx") is None else str(run["non_2xx"]), versus,
            ))
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    line = "  ".join(
        h.ljust(w) if i in (0, 7) else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))
    )
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(
            c.ljust(w) if i in (0, 7) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
        ))
    print()
    roll = [r for r in runs if r["endpoint"] == "POST /fetchdata via HAProxy, rolling restart"]
    rest = [r for r in runs if r["endpoint"] == "POST /fetchdata via HAProxy, at rest"]
    if roll and rest:
        r, b = roll[0], rest[0]
        print(
            f"rolling restart of 2 instances behind HAProxy: {r['wrk']['requests']:,} requests, "
            f"{r['errors'] + r['non_2xx']} failed (goal 0); p99 {ms(r['p99_us'])} during the roll "
            f"against {ms(b['p99_us'])} at rest"
        )
    print_goals(runs, by_key, meta)
    rss_kib = meta["peak_rss_kib"]
    print(
        f"peak resident memory of the app (VmHWM, whole run): {rss_kib / 1024:.1f} MiB; "
        f"at the end, in KiB: {meta.get('rss_split_kib') or '-'}"
    )
    ready = meta["ready_ms"]
    print(
        "start to first 200 from /readyz (database up): "
        f"first start {ready[0]:.1f} ms (creates the schema), "
        f"median of {len(ready)} starts {sorted(ready)[len(ready) // 2]:.1f} ms"
    )
    print(f"stripped release binary: {meta['binary_bytes'] / 1e6:.2f} MB ({meta['binary_bytes']:,} bytes)")
    image = meta.get("image")
    if image:
        print(
            f"container image {image['image']} ({image['id']}): {image['bytes'] / 1e6:.1f} MB "
            f"(budget 40 MB), of which the base {image['base']} {image['base_bytes'] / 1e6:.1f} MB; "
            "layers, newest first:"
        )
        for layer in image["layers"]:
            print(f"  {layer['bytes'] / 1e6:7.2f} MB  {layer['created_by']}")
    else:
        print("container image: not measured (-n)")
    print(
        f"machine: {meta['cores']} cores shared by the app, MariaDB and the load generator "
        f"(wrk, 2 threads / mariadb-slap); load average before the run: {meta['load_before']} "
        "(anything above about 0.5 is other work and makes the figures noisy; the run "
        "itself raises it)"
    )

    report = {
        "runs": runs,
        **meta,
        "ready_ms_median": sorted(ready)[len(ready) // 2],
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
