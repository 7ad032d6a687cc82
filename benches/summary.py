#!/usr/bin/env python3
"""Print the benchmark tables of benches/README.md from criterion's results (python3 stdlib only).

Run `cargo bench -p tower-jwt-auth-benches` first, then:

    python3 benches/summary.py [CRITERION_DIR]

Or, for the interleaved batches of `LAYER_BENCH_ROUNDS`, pipe the output of many runs of the
benchmark binary (each run a new process, so a new memory layout) into

    python3 benches/summary.py --rounds

which prints, for each of the layer's costs, the spread of its fastest-batch figure over
the runs.

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion, else target/criterion next to this
script's crate. Every time is criterion's median, in microseconds. The layer's
own cost is `router_with_layer - router_no_auth` (the same request, with and without the
layer); the ratios compare it with `jsonwebtoken_decode` and with `floor`, the least any
verifier must do (decode, verify with a pre-parsed aws-lc-rs key, one JSON parse).
"""

import json
import os
import sys
from pathlib import Path

ALGORITHMS = ["HS256", "RS256", "PS256", "ES256", "EdDSA"]
# Criterion's median of the samples: steadier than the mean on a shared machine, where
# another tenant's burst lands in a few samples.
ESTIMATE = "median"


def criterion_dir() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return Path(target) / "criterion"
    return Path(__file__).resolve().parent.parent / "target" / "criterion"


def load(root: Path) -> dict:
    """{(group, function or None): mean in microseconds} for every benchmark found."""
    means = {}
    for estimates in root.glob("**/new/estimates.json"):
        benchmark = estimates.with_name("benchmark.json")
        if benchmark.exists():
            meta = json.loads(benchmark.read_text())
            key = (meta["group_id"], meta.get("function_id"))
        else:  # Fall back on the directory layout: <group>/<function>/new.
            parts = estimates.parent.parent.relative_to(root).parts
            key = (parts[0], parts[1] if len(parts) > 1 else None)
        mean_ns = json.loads(estimates.read_text())[ESTIMATE]["point_estimate"]
        means[key] = mean_ns / 1000.0
    return means


def header(*columns: str) -> None:
    """Prints a table's header row (the algorithm first) and its alignment row."""
    print("| " + " | ".join(("alg",) + columns) + " |")
    print("|---" + "|---:" * len(columns) + "|")


def rounds() -> int:
    """The spread over runs of each cost's fastest-batch figure, read from standard input."""
    costs = {}
    for line in sys.stdin:
        # "cold - minimal: 341 ns by the fastest batches, 345 ns by the medians"
        name, colon, rest = line.partition(":")
        if colon and rest.strip().endswith("by the medians"):
            costs.setdefault(name.strip(), []).append(int(rest.split()[0]))
    if not costs:
        print("no `LAYER_BENCH_ROUNDS` output on standard input", file=sys.stderr)
        return 1
    print("| cost (fastest batch of each run, ns) | runs | min | quartile | median | quartile | max |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, values in costs.items():
        values.sort()
        n = len(values)
        median = (values[(n - 1) // 2] + values[n // 2]) / 2
        print(f"| {name} | {n} | {values[0]} | {values[n // 4]} | {median:g} | {values[(3 * n) // 4]} | {values[-1]} |")
    return 0


def main() -> int:
    if sys.argv[1:] == ["--rounds"]:
        return rounds()
    root = criterion_dir()
    means = load(root)
    if not means:
        print(f"no criterion results under {root}; run `cargo bench -p tower-jwt-auth-benches` first", file=sys.stderr)
        return 1

    def get(group, alg):
        # `router_no_auth` may be measured once for all algorithms.
        return means.get((group, alg), means.get((group, None)))

    # The algorithm-keyed groups only: `many_names` and `dpop` name their functions otherwise.
    others = ("revocation_check", "keycloak", "threads", "many_names", "dpop")
    found = {alg for (group, alg) in means if alg and group not in others}
    algorithms = [a for a in ALGORITHMS if a in found] + sorted(found - set(ALGORITHMS))
    us = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    ratio = lambda a, b: "n/a" if a is None or not b else f"{a / b:.2f}×"  # noqa: E731

    print(
        "| alg | floor (µs) | jsonwebtoken decode (µs) | JwtAuthConfig::verify_as (µs) "
        "| router, no auth (µs) | router + layer (µs) | layer cost (µs) "
        "| layer / decode | layer / floor | layer − decode (µs) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for alg in algorithms:
        floor = get("floor", alg)
        decode = get("jsonwebtoken_decode", alg)
        verify = get("config_verify", alg)
        no_auth = get("router_no_auth", alg)
        with_layer = get("router_with_layer", alg)
        layer = None if no_auth is None or with_layer is None else with_layer - no_auth
        difference = None if layer is None or decode is None else layer - decode
        difference_text = "n/a" if difference is None else f"{difference:+.2f}"
        print(
            f"| {alg} | {us(floor)} | {us(decode)} | {us(verify)} | {us(no_auth)} | {us(with_layer)} "
            f"| {us(layer)} | {ratio(layer, decode)} | {ratio(layer, floor)} | {difference_text} |"
        )

    print()
    header(
        "floor (µs)",
        "minimal layer cost (µs)",
        "minimal layer / floor",
        "layer cost (µs)",
        "layer / minimal layer",
        "layer − minimal layer (µs)",
    )
    for alg in algorithms:
        floor = get("floor", alg)
        no_auth = get("router_no_auth", alg)
        with_layer = get("router_with_layer", alg)
        minimal = means.get(("router_with_minimal_layer", alg))
        if minimal is None or no_auth is None or with_layer is None:
            continue
        minimal_cost = minimal - no_auth
        layer = with_layer - no_auth
        print(f"| {alg} | {us(floor)} | {us(minimal_cost)} | {ratio(minimal_cost, floor)} | {us(layer)} "
              f"| {ratio(layer, minimal_cost)} | {layer - minimal_cost:+.2f} |")

    print()
    header(
        "router, no auth (µs)",
        "router + layer, cold (µs)",
        "router + layer, warm (µs)",
        "layer cost warm (µs)",
        "cold layer / warm layer",
        "+ a handler reading the claims (µs)",
    )
    warm_costs = []
    for alg in algorithms:
        no_auth = get("router_no_auth", alg)
        cold = get("router_with_layer", alg)
        warm = means.get(("router_with_layer_warm", alg))
        if warm is None:
            continue
        warm_cost = None if no_auth is None else warm - no_auth
        cold_cost = None if no_auth is None or cold is None else cold - no_auth
        warm_text = "n/a" if warm_cost is None else f"{warm_cost:.2f}"
        if warm_cost is not None:
            warm_costs.append(warm_cost)
        reading = means.get(("router_with_layer_warm_reading_claims", alg))
        reading_text = "n/a" if reading is None else f"{reading - warm:+.2f}"
        print(f"| {alg} | {us(no_auth)} | {us(cold)} | {us(warm)} | {warm_text} | {ratio(cold_cost, warm_cost)} "
              f"| {reading_text} |")
    identity = next((v for (group, _), v in means.items() if group == "router_with_identity_layer"), None)
    no_auth = get("router_no_auth", algorithms[0]) if algorithms else None
    if identity is not None and no_auth is not None and warm_costs:
        plumbing = identity - no_auth
        print(f"\nAny axum layer (tower's `Identity`, which does nothing) costs {plumbing:.2f} µs here; "
              f"the warm layer cost beyond that: {min(warm_costs) - plumbing:.2f} to {max(warm_costs) - plumbing:.2f} µs")

    print()
    header("warm (µs)", "warm, revocation list of 12,001 entries (µs)", "revocation check cost (µs)")
    for alg in algorithms:
        warm = means.get(("router_with_layer_warm", alg))
        revoked = means.get(("router_with_layer_warm_revocations", alg))
        if warm is None or revoked is None:
            continue
        print(f"| {alg} | {us(warm)} | {us(revoked)} | {revoked - warm:+.3f} |")
    check = means.get(("revocation_check", "is_revoked"))
    if check is not None:
        print(f"\nThe check alone (`Revocations::is_revoked`: the token's jti and sub looked up): {check * 1000:.0f} ns")

    print()
    header(
        "router + layer (µs)",
        "+ 3 guard layers, one stack (µs)",
        "guarded / layer",
        "guards (µs)",
        "+ 3 guards as a route_layer (µs)",
        "guarded / layer",
        "+ `Require::all_of` of 3 (µs)",
        "guarded / layer",
        "the 3 checks alone (µs)",
        "+ a `MethodPolicy` of 22 rules (µs)",
        "guarded / layer",
    )
    for alg in algorithms:
        with_layer = get("router_with_layer", alg)
        with_guards = get("router_with_guards", alg)
        route_layer = means.get(("router_with_route_layer_guards", alg))
        guards = None if with_layer is None or with_guards is None else with_guards - with_layer
        guards_text = "n/a" if guards is None else f"{guards:+.2f}"
        all_of = means.get(("router_with_all_of_guards", alg))
        checks = means.get(("guards_is_satisfied", alg))
        policy = means.get(("router_with_method_policy", alg))
        print(f"| {alg} | {us(with_layer)} | {us(with_guards)} | {ratio(with_guards, with_layer)} | {guards_text} "
              f"| {us(route_layer)} | {ratio(route_layer, with_layer)} | {us(all_of)} | {ratio(all_of, with_layer)} "
              f"| {us(checks)} | {us(policy)} | {ratio(policy, with_layer)} |")

    print()
    header(
        "verify_as, static key (µs)",
        "verify_as, remote JWKS key (µs)",
        "remote / static",
        "router + layer, static (µs)",
        "router + layer, remote (µs)",
        "remote / static",
    )
    for alg in algorithms:
        verify = get("config_verify", alg)
        verify_remote = means.get(("config_verify_remote", alg))
        with_layer = get("router_with_layer", alg)
        with_remote = means.get(("router_with_remote_layer", alg))
        if verify_remote is None and with_remote is None:
            continue
        print(f"| {alg} | {us(verify)} | {us(verify_remote)} | {ratio(verify_remote, verify)} "
              f"| {us(with_layer)} | {us(with_remote)} | {ratio(with_remote, with_layer)} |")

    rows = [(name, means.get(("threads", f"{name}/1")), means.get(("threads", f"{name}/2")))
            for name in ("verify_as", "router_warm")]
    if any(one is not None and two is not None for _, one, two in rows):
        print()
        print("| HS256, time per call | one thread (µs) | two threads at once (µs) | throughput, two / one |")
        print("|---|---:|---:|---:|")
        for name, one, two in rows:
            if one is not None and two is not None:
                label = {"verify_as": "`verify_as`", "router_warm": "router + layer, warm"}[name]
                print(f"| {label} | {one:.2f} | {two:.2f} | {one / two:.2f}× |")

    floor, decode, verify = (means.get(("keycloak", name)) for name in ("floor", "jsonwebtoken_decode", "config_verify"))
    if verify is not None:
        print()
        print("| token | floor (µs) | jsonwebtoken decode (µs) | JwtAuthConfig::verify_as (µs) "
              "| verify_as / floor | verify_as / decode |")
        print("|---|---:|---:|---:|---:|---:|")
        print(f"| Keycloak-shaped, HS256 | {us(floor)} | {us(decode)} | {us(verify)} | {ratio(verify, floor)} "
              f"| {ratio(verify, decode)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
