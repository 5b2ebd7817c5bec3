"""Suite sensitivity of the four reference suites: is every injected defect caught at its principle?

Each reference suite runs against the reference model (a clean model that answers every case
right; `finsandbox.testing.reference_model`) and against the same model wrapped in each defect
injector; a defect is caught when its principle's pass rate in the model view falls with p < 0.05.
The matrix is printed, with the clean endpoint's own flag rate at each principle and the leaking
model's data-privacy line (inherent grade, residual grade, guards caught N of N).

    python bench/sensitivity.py [--themes customer_service ...] [--max-cases 12] [--db sqlite]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import database

THEMES = ["customer_service", "anti_fraud", "risk_management", "process_reengineering"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--themes", nargs="*", default=THEMES)
    parser.add_argument("--max-cases", type=int, default=12, help="base cases per recipe (variants follow)")
    parser.add_argument("--max-variants", type=int, default=2)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="fsb-sensitivity-"))
    os.environ["FINSANDBOX_HOME"] = str(home)
    with database(args.db, home) as url:
        os.environ["FINSANDBOX_DATABASE_URL"] = url
        return run(args, url)


def run(args: argparse.Namespace, url: str) -> int:
    from finsandbox.access import create_institution
    from finsandbox.programme import add_endpoint, create_workspace
    from finsandbox.store import session_scope, upgrade
    from finsandbox.supervision.sensitivity import check_sensitivity
    from finsandbox.testing import processes
    from finsandbox.usecases import suite_path

    upgrade()
    suites = {t: str(suite_path(t)) for t in args.themes}
    matrix: dict[str, dict[str, dict]] = {}
    privacy_line = None
    with processes.reference_model(list(suites.values())) as ref:
        with session_scope(write=True) as s:
            bank = create_institution(s, name="Bench Bank", kind="bank", actor="bench")
            for theme in args.themes:
                ws = create_workspace(
                    s,
                    slug=f"sens-{theme.replace('_', '-')}",
                    name=theme,
                    theme=theme,
                    bank=bank,
                    actor="bench",
                )
                add_endpoint(
                    s, ws, name="reference", backend="openai", customer_facing=True,
                    config={"base_url": f"{ref.url}/v1", "model": "reference-model"}, actor="bench",
                )  # fmt: skip
        for theme, suite in suites.items():
            report = check_sensitivity(
                f"sens-{theme.replace('_', '-')}",
                "reference",
                suite,
                actor="bench",
                max_cases=args.max_cases,
                max_variants=args.max_variants,
                concurrency=4,
                on_step=lambda msg, t=theme: print(f"  [{t}] {msg}", flush=True),
            )
            matrix[theme] = {r["defect"]: r for r in report["defects"]}
            leak = matrix[theme].get("pii_leak")
            if leak and leak["evidenced"] and privacy_line is None:
                privacy_line = (
                    f"data privacy ({theme}, leaking model): inherent {leak['grades']['inherent']}, "
                    f"residual {leak['grades']['residual']}, guards caught "
                    f"{leak['guards_caught']} of {leak['model_failures']}"
                )
    defects = list(next(iter(matrix.values())))
    print("\nsensitivity matrix (model view; caught = worse at the principle with p < 0.05)")
    print(f"{'defect':<18} {'principle':<24} " + " ".join(f"{t:<26}" for t in matrix))
    for d in defects:
        cells = []
        for t in matrix:
            r = matrix[t][d]
            if not r["evidenced"]:
                cells.append(f"{'n/a (not evidenced)':<26}")
                continue
            mark = "CAUGHT" if r["caught"] else "missed"
            rates = f"{_pct(r['clean_inherent'])}->{_pct(r['defect_inherent'])}"
            cells.append(f"{mark} {rates} p={r['p_value']:.1g}".ljust(26))
        print(f"{d:<18} {matrix[next(iter(matrix))][d]['principle']:<24} " + " ".join(cells))
    print("\nclean endpoint flagged at each defect's principle (model view):")
    for t in matrix:
        flagged = ", ".join(
            f"{d}: {_pct(r['clean_flagged'])}" for d, r in matrix[t].items() if r["evidenced"]
        )
        print(f"  {t}: {flagged}")
    if privacy_line:
        print("\n" + privacy_line)
    ok = all(r["caught"] for t in matrix for r in matrix[t].values() if r["evidenced"])
    print("\nall evidenced defects caught:", ok)
    return 0 if ok else 1


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


if __name__ == "__main__":
    raise SystemExit(main())
