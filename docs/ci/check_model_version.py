"""CI gate: run a use case's suite on a new model version and fail the build when a principle's
grade drops significantly against the last accepted scorecard.

    FINSANDBOX_URL=https://sandbox.example.org FINSANDBOX_TOKEN=fsu_... \
        python check_model_version.py --workspace alpha-assist --suite own:smoke --endpoint candidate-v2

Needs only httpx. Exit status: 0 passed, 1 a principle got significantly worse (or the trial did not
complete), 2 a usage or API error. Every call is on the JSON API documented at /docs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import httpx


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--suite", required=True, help="a theme or own:NAME[@vN]")
    parser.add_argument("--endpoint", required=True, help="the endpoint serving the new model version")
    parser.add_argument("--max-cases", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the trial")
    args = parser.parse_args()
    base = os.environ.get("FINSANDBOX_URL", "http://127.0.0.1:8000").rstrip("/") + "/api/v1"
    token = os.environ.get("FINSANDBOX_TOKEN")
    if not token:
        print("error: set FINSANDBOX_TOKEN to a personal token (fsu_…)", file=sys.stderr)
        return 2
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def call(method: str, path: str, **kw: object) -> dict:
        r = api.request(method, path, **kw)
        if r.status_code >= 400:
            print(
                f"error: {method} {path}: {r.json().get('error', {}).get('message', r.text)}", file=sys.stderr
            )
            raise SystemExit(2)
        return r.json()

    baseline = api.get(f"/workspaces/{args.workspace}/scorecards/accepted")
    if baseline.status_code == 404:
        print("no accepted scorecard yet: this run becomes the first candidate baseline")
        baseline_trial = None
    else:
        baseline_trial = baseline.json()["trial_id"]

    body = {"suite": args.suite, "endpoint": args.endpoint, "name": f"CI {args.endpoint}"}
    if args.max_cases:
        body["max_cases"] = args.max_cases
    trial = call("POST", f"/workspaces/{args.workspace}/trials", json=body)
    print(f"trial {trial['id']} launched: {trial['total_cases']} cases")
    deadline = time.monotonic() + args.timeout
    while not trial["final"] or not trial["scorecard_id"]:
        if trial["final"] and trial["status"] != "completed":
            break
        if time.monotonic() > deadline:
            call("POST", f"/trials/{trial['id']}/cancel")
            print("error: the trial did not finish in time; cancelled", file=sys.stderr)
            return 1
        time.sleep(2)
        trial = call("GET", f"/trials/{trial['id']}")
        print(f"  {trial['status']}: {trial['done_cases']}/{trial['total_cases']}")
    if trial["status"] != "completed":
        print(f"FAIL: trial {trial['status']}: {trial['error']}")
        return 1
    print(f"overall grade {trial['overall_grade']}")
    if baseline_trial is None:
        return 0
    comparison = call("GET", "/scorecards/compare", params={"before": baseline_trial, "after": trial["id"]})
    worse = [c for c in comparison["principles"] if c["verdict"] == "worse"]
    for c in comparison["principles"]:
        if c["delta"] is not None:
            print(
                f"  {c['name']}: {c['before']:.0%} -> {c['after']:.0%} ({c['verdict']}, p={c['p_value']:.3g})"
            )
    if worse:
        names = ", ".join(c["name"] for c in worse)
        print(f"FAIL: significantly worse than the accepted scorecard on {names} ({comparison['test']})")
        return 1
    print("PASS: no principle significantly worse than the accepted scorecard")
    return 0


if __name__ == "__main__":
    sys.exit(main())
