"""``python -m bench``: outagewatch beside blackbox_exporter; see docs/BENCHMARKS.md."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import harness, report, results_file, roundtrip, status_load, status_page, storage
from bench.blackbox import find_binary
from bench.children import unwind_on_sigterm
from bench.environment import cpu_ticks, describe, steal_between

BIG_SCALE = 10_000
DAEMON_FROM = 1000  # the deployed daemon runs at the scales from this one up


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks outagewatch's probe engine beside blackbox_exporter, and the "
        "deployed daemon under scrapes, on loopback simulators (about 18 minutes; --full adds "
        "10,000 targets).",
    )
    plan = harness.Plan()
    parser.add_argument("--full", action="store_true", help=f"add the {BIG_SCALE:,}-target scale")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run of about two minutes (figures are rough)"
    )
    parser.add_argument(
        "--scales", type=_counts, default=plan.scales, help="target counts, e.g. 100,1000"
    )
    parser.add_argument("--interval", type=float, default=plan.interval, help="seconds")
    parser.add_argument("--duration", type=float, default=plan.duration, help="measured seconds")
    parser.add_argument(
        "--warmup", type=float, default=plan.warmup, help="seconds (default: one interval + 2 s)"
    )
    parser.add_argument(
        "--daemon-duration",
        type=float,
        default=plan.daemon_duration,
        help="measured seconds of each deployed-daemon run",
    )
    parser.add_argument("--latency", type=float, default=plan.latency, help="injected seconds")
    parser.add_argument("--servers-per-protocol", type=int, default=plan.servers_per_protocol)
    parser.add_argument(
        "--per-protocol-targets",
        type=int,
        default=plan.per_protocol_targets,
        help="targets of each CPU-by-protocol run (0 skips those runs)",
    )
    parser.add_argument("--per-protocol-interval", type=float, default=plan.per_protocol_interval)
    parser.add_argument("--per-protocol-duration", type=float, default=plan.per_protocol_duration)
    parser.add_argument(
        "--hostile-scale",
        type=int,
        default=plan.hostile_scale,
        help="healthy targets beside 1 %% hostile ones, and beside as many quiet (0 skips)",
    )
    parser.add_argument(
        "--isolation-scale",
        type=int,
        default=plan.isolation_scale,
        help="healthy services of the deployed daemon in quiet, status page and hostile "
        "windows (0 skips)",
    )
    parser.add_argument(
        "--isolation-window",
        type=float,
        default=plan.isolation_window,
        help="seconds of each of those windows",
    )
    parser.add_argument(
        "--isolation-rounds",
        type=int,
        default=plan.isolation_rounds,
        help="rounds of a quiet, a status page and a hostile window",
    )
    parser.add_argument(
        "--status-rate",
        type=float,
        default=plan.status_rate,
        help="status page requests per second in the status page windows",
    )
    parser.add_argument(
        "--isolation-only",
        action="store_true",
        help="only the isolation rows, at --isolation-scale: the engine beside hostile "
        "targets (unless --hostile-scale 0), the daemon's windows, the daemon scraped every "
        "--scrape-every (about 10 minutes at 1,000)",
    )
    parser.add_argument("--detection-runs", type=int, default=plan.detection_runs)
    parser.add_argument("--no-blackbox", action="store_true", help="measure outagewatch alone")
    parser.add_argument(
        "--no-daemon",
        dest="daemon",
        action="store_false",
        help="leave out the deployed daemon (outagewatch run, scraped)",
    )
    parser.add_argument(
        "--scrape-every", type=float, default=plan.scrape_every, help="seconds between scrapes"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--probe-workers",
        help="the deployed daemon's probe_workers: auto or a count (0: the probe thread)",
    )
    parser.add_argument("--out", type=Path, help="directory for results.json, report.txt, logs")
    parser.add_argument(
        "--report-from",
        type=Path,
        metavar="RESULTS_JSON",
        help="print the report of an earlier run again, and run nothing",
    )
    return parser


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected counts like 100,1000, got {text!r}") from None
    if any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError("target counts must be positive")
    return counts


def plan_of(args: argparse.Namespace, blackbox: str | None) -> harness.Plan:
    scales = args.scales
    if args.full and BIG_SCALE not in scales:
        scales = (*scales, BIG_SCALE)
    daemon_scales = tuple(n for n in scales if n >= DAEMON_FROM) or scales[-1:]
    plan = harness.Plan(
        scales=scales,
        interval=args.interval,
        warmup=args.warmup,
        duration=args.duration,
        per_protocol_targets=args.per_protocol_targets,
        per_protocol_interval=args.per_protocol_interval,
        per_protocol_duration=args.per_protocol_duration,
        detection_runs=args.detection_runs,
        hostile_scale=args.hostile_scale,
        latency=args.latency,
        servers_per_protocol=args.servers_per_protocol,
        pin=not args.no_pin,
        blackbox=blackbox,
        daemon_scales=daemon_scales if args.daemon else (),
        scrape_every=args.scrape_every,
        daemon_duration=args.daemon_duration,
        probe_workers=args.probe_workers,
        isolation_scale=args.isolation_scale,
        isolation_window=args.isolation_window,
        isolation_rounds=args.isolation_rounds,
        status_rate=args.status_rate,
    )
    if args.quick:
        plan = dataclasses.replace(
            plan,
            scales=(100,),
            interval=5.0,
            warmup=2.0,
            duration=6.0,
            per_protocol_targets=200,
            per_protocol_interval=5.0,
            per_protocol_duration=3.0,
            hostile_scale=100 if plan.hostile_scale else 0,
            isolation_scale=100 if plan.isolation_scale else 0,
            isolation_window=6.0,
            isolation_rounds=1,
            detection_runs=2,
            daemon_scales=(100,) if plan.daemon_scales else (),
            scrape_every=5.0,
            fast_scrape_every=None,
            daemon_duration=6.0,
        )
    if args.isolation_only:
        count = plan.isolation_scale or DAEMON_FROM
        plan = dataclasses.replace(
            plan,
            scales=(),
            per_protocol_targets=0,
            detection_runs=0,
            blackbox=None,
            hostile_scale=count if plan.hostile_scale else 0,
            isolation_scale=count,
            daemon_scales=(count,) if plan.daemon_scales else (),
            fast_scrape_every=None,
            isolation_only=True,
        )
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    unwind_on_sigterm()
    if args.report_from is not None:
        results, machine = results_file.load(args.report_from)
        print(_text(machine, results))
        return 0
    blackbox = None
    if not args.no_blackbox and not args.isolation_only:
        blackbox = find_binary()
        if blackbox is None:
            print(
                "python -m bench: blackbox_exporter not found; install Debian's "
                "prometheus-blackbox-exporter (make bench does) or pass --no-blackbox",
                file=sys.stderr,
            )
            return 2
    plan = plan_of(args, blackbox)
    out = args.out or Path(tempfile.mkdtemp(prefix="outagewatch-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    machine = describe(blackbox)
    ticks = cpu_ticks()
    started = time.monotonic()
    results = harness.run(plan, out, harness.stderr_say(started))
    if plan.isolation_only:
        _finish(machine, started, ticks)
        text = _text(machine, results)
        print(f"{text}\n\nresults and logs in {out}")
        (out / "report.txt").write_text(text + "\n")
        results_file.dump(out / "results.json", results, machine)
        return 0
    stored = storage.render(asyncio.run(storage.measure()))  # bytes per sample, both dialects
    _finish(machine, started, ticks)
    faces = "status load at 10,000 services: left out of --quick (python -m bench.status_load)"
    if not args.quick:
        faces = status_load.report(harness.stderr_say(started), args.probe_workers)
    text = f"{_text(machine, results)}\n\n{stored}\n\n{status_page.report()}\n\n{faces}"
    text += "\n\n" + roundtrip.section(20 if args.quick else roundtrip.PROBES_PER_KIND)
    print(f"{text}\n\nresults and logs in {out}")
    (out / "report.txt").write_text(text + "\n")
    results_file.dump(out / "results.json", results, machine)
    return 0


def _finish(machine: dict[str, str], started: float, ticks: dict[str, tuple[int, int]]) -> None:
    machine["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    machine["run took"] = f"{time.monotonic() - started:.0f} s"
    machine["CPU time stolen by the hypervisor"] = steal_between(ticks, cpu_ticks())


def _text(machine: dict[str, str], results: harness.Results) -> str:
    return "\n".join(
        [*(f"{key}: {value}" for key, value in machine.items()), "", report.render(results)]
    )


if __name__ == "__main__":
    sys.exit(main())
