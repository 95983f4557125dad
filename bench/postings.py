"""The cost of one transaction as its postings grow: is the balance check at commit linear?

    .venv/bin/python bench/postings.py [--rounds 5]

Creates the scratch PostgreSQL database bench_postings (dropped at the end), migrates it and
books, through `transaction_create`, one transaction of N postings (N/2 users credited, the
program's expense account debited N/2 times) for N = 50, 100, 250 and 500 (the most a
transaction may have). Each size is booked `--rounds` times, on fresh accounts, and the best
wall time counts. The reference is the 50-posting transaction of the same run: the ratio
500/50 is about 10 when the work per posting is constant, about 100 when it is quadratic
(issue 11: the check once re-summed every posting of the transaction for each posting).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._harness import django_on_scratch_database  # noqa: E402

DB = "bench_postings"
SIZES = (50, 100, 250, 500)


def _book(program, n: int, tag: str) -> float:
    from ledger.booking.lines import PostingLine
    from ledger.services.accounts import account_get_or_create
    from ledger.services.transactions import transaction_create

    lines = []
    for i in range(n // 2):
        code = f"user:{tag}{i}:rewards"
        account_get_or_create(program=program, code=code, kind="liability")
        lines.append(PostingLine(account=code, direction="credit", amount=1))
        lines.append(PostingLine(account="program:rewards_expense", direction="debit", amount=1))
    started = time.perf_counter()
    transaction_create(program=program, postings=lines, description=f"{n} postings")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="bookings per size (best counts)")
    args = parser.parse_args()

    with django_on_scratch_database(DB):
        from rules.rewards.services.programs import program_create

        program, _ = program_create(slug="bench", name="Bench", currency="INR")
        _book(program, SIZES[0], "warm")
        best = {}
        for n in SIZES:
            best[n] = min(_book(program, n, f"n{n}r{r}x") for r in range(args.rounds))
            print(f"{n:>4} postings: {1000 * best[n]:8.1f} ms", flush=True)
        ratio = best[SIZES[-1]] / best[SIZES[0]]
        size_ratio = SIZES[-1] / SIZES[0]
        print(f"{SIZES[-1]}/{SIZES[0]} time ratio: {ratio:.1f} (postings ratio {size_ratio:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
