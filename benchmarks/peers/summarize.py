"""Table of side_by_side.sh results: median over rounds of each process's median step time."""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict

ENGINES = ("torch-c128", "torch-c64", "torchquantum")
BEFORE = ("before-c128", "before-c64")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", help="results-*.jsonl from side_by_side.sh")
    parser.add_argument("--threads", default="?")
    args = parser.parse_args()
    with open(args.results) as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    cases: dict[tuple[int, int], dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        cases[(r["num_qubits"], r["batch"])][r["engine"]].append(r)

    def median(rs, key="seconds"):
        values = [r[key] for r in rs if key in r]
        return statistics.median(values) if values else None

    def fmt(v, spec=".4f"):
        return "-" if v is None else format(v, spec)

    loads = [r["load1_before"] for r in records if "load1_before" in r]
    print(
        f"\nseconds per training step (forward + backward + Adam), median over rounds of "
        f"per-process medians; torch threads = {args.threads}; load1 during runs "
        f"{min(loads, default=0):.1f}..{max(loads, default=0):.1f} on "
        f"{__import__('os').cpu_count()} cores\n"
    )
    print(
        "| N | B | ours c128 | ours c64 | TorchQuantum (c64) | tq / c128 | tq / c64 "
        "| CPU-time tq / c64 | peak RSS MiB c128/c64/tq | steps x rounds (c128/c64/tq) "
        "| max abs(tq - c128) outputs |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (n, b), by in sorted(cases.items()):
        med = {e: median(by.get(e, [])) for e in ENGINES}
        tq = med["torchquantum"]
        ratio = {
            e: (tq / med[e]) if tq is not None and med[e] else None
            for e in ("torch-c128", "torch-c64")
        }
        counts = "/".join(
            ",".join(str(r.get("repeats", "err")) for r in by.get(e, [])) or "-" for e in ENGINES
        )
        diff = None
        ref = next((r["outputs"] for r in by.get("torch-c128", []) if "outputs" in r), None)
        if ref is not None:
            for r in by.get("torchquantum", []):
                if "outputs" in r:
                    pairs = zip(r["outputs"], ref, strict=False)  # rows: the first 4 of both
                    d = max(abs(a - c) for ra, rc in pairs for a, c in zip(ra, rc, strict=True))
                    diff = d if diff is None else max(diff, d)
        cpu = {e: median(by.get(e, []), "cpu_seconds") for e in ENGINES}
        cpu_ratio = (
            cpu["torchquantum"] / cpu["torch-c64"]
            if cpu["torchquantum"] is not None and cpu["torch-c64"]
            else None
        )
        rss = "/".join(fmt(median(by.get(e, []), "peak_rss_mib"), ".0f") for e in ENGINES)
        print(
            f"| {n} | {b} | {fmt(med['torch-c128'])} | {fmt(med['torch-c64'])} | {fmt(tq)} "
            f"| {fmt(ratio['torch-c128'], '.1f')} | {fmt(ratio['torch-c64'], '.1f')} "
            f"| {fmt(cpu_ratio, '.1f')} | {rss} | {counts} | {fmt(diff, '.1e')} |"
        )
    if any(r["engine"] in BEFORE for r in records):
        print(
            "\nbefore (BASELINE checkout) and after (this checkout), same rounds; TorchQuantum's "
            "step time divided by each\n"
        )
        print(
            "| N | B | before c128 | after c128 | after speed-up | before c64 | after c64 "
            "| after speed-up | tq / c128 before -> after | tq / c64 before -> after |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for (n, b), by in sorted(cases.items()):
            med = {e: median(by.get(e, [])) for e in ENGINES + BEFORE}
            tq = med["torchquantum"]
            cells = []
            for old, new in (("before-c128", "torch-c128"), ("before-c64", "torch-c64")):
                gain = med[old] / med[new] if med[old] and med[new] else None
                cells += [fmt(med[old]), fmt(med[new]), fmt(gain, ".2f")]
            vs = [
                f"{fmt(tq / med[o] if tq and med[o] else None, '.1f')} -> "
                f"{fmt(tq / med[a] if tq and med[a] else None, '.1f')}"
                for o, a in (("before-c128", "torch-c128"), ("before-c64", "torch-c64"))
            ]
            print(f"| {n} | {b} | " + " | ".join(cells + vs) + " |")
    errors = [r for r in records if "error" in r]
    for r in errors:
        print(f"\nERROR {r['engine']} N={r['num_qubits']} B={r['batch']}: {r['error']}")


if __name__ == "__main__":
    main()
