"""``pushworker device prune``: delete devices that stayed inactive too long, saying how many.

The rest of the lifecycle lives where its writes are: Xiaomi's 20301 and ``bad_regids`` answers
deactivate through records.deactivate_devices (called by sending), and a re-registration
reactivates through devices.register.
"""

from __future__ import annotations

import argparse
import sys

from pushworker.store import devices


def prune_command(args: argparse.Namespace) -> int:
    """``pushworker device prune --inactive-days N [--dry-run]``; exit 2 on a negative N."""
    if args.inactive_days < 0:
        print("device prune: --inactive-days: must be 0 or more", file=sys.stderr)
        return 2
    count = devices.prune(args.inactive_days, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{verb} {count} inactive device{'s' if count != 1 else ''}"
        f" deactivated more than {args.inactive_days} days ago"
    )
    return 0
