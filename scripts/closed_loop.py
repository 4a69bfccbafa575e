#!/usr/bin/env python3
"""The closed loop on one machine, with real processes: drift -> retrain ->
gates -> canary -> analysis -> promote or abort. Run from the repository
root after `make setup` and `cargo build --workspace --bins`:

    .venv/bin/python scripts/closed_loop.py --scenario happy --out target/loop

writes target/loop/loop-<scenario>.json (events, responses, the timeline
series) and target/loop/loop-<scenario>.png. See scripts/loop/run.py."""
import argparse
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from loop.run import run  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["happy", "bad-model", "bad-canary"], default="happy")
    parser.add_argument("--out", default=str(ROOT / "target" / "loop"))
    parser.add_argument("--helm", default=str(ROOT / ".tools" / "helm"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sluice-loop-") as work:
        result = run(args.scenario, ROOT, work, args.out, args.helm)
    print(f"{args.scenario}: {result['outcome']}; responses {result['responses']['total']}, "
          f"failed {result['responses']['failed']} {result['responses']['failed_by_role']}; "
          f"timeline {args.out}/loop-{args.scenario}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
