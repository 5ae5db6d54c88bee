"""``python -m grafana`` writes grafana/dashboards/*.json; ``--check`` fails if they are stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grafana.catalogue import DASHBOARD_DIR, rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grafana", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a dashboard file differs from the code")
    parser.add_argument("--dir", type=Path, default=DASHBOARD_DIR, help=f"dashboard folder (default {DASHBOARD_DIR})")
    args = parser.parse_args(argv)
    stale = []
    for name, text in rendered().items():
        path = args.dir / name
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text)
    if args.check and stale:
        print(f"stale dashboards (run `python -m grafana`): {', '.join(stale)}", file=sys.stderr)
        return 1
    print(f"{'stale' if args.check else 'wrote'}: {', '.join(stale) or 'nothing, all up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
