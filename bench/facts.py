"""The facts of one event: `rules.selectors.facts_build` against the ORM queries it replaced.

    .venv/bin/python bench/facts.py [--people 300] [--rounds 20]

Creates the scratch PostgreSQL database bench_facts (dropped at the end), migrates it and
creates, through the services, a program whose participants stand at three depths of a
referral tree (users without a referrer, users with a referrer, users with a referrer's
referrer). Then, for each depth, it builds the facts of a `purchase` event for every user of
that depth, two ways, in one process and on one connection:

1. reference: the ORM queries the event pipeline ran before (the referred's referrals count,
   its referral with select_related("referrer__program"), and the same for each level up);
2. `facts_build` as the pipeline runs it now (`upline`: one prepared statement).

The two alternate in blocks (`--rounds`, the order swapped each round), so a machine that speeds
up or slows down in between weighs on both alike. It prints, per depth, the process CPU and the
PostgreSQL backend's CPU (from /proc) per event for each, and the ratio, and checks that both
give the same facts.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._harness import django_on_scratch_database, process_cpu  # noqa: E402

DB = "bench_facts"


def _reference(participant) -> dict[str, Any]:
    """The facts as the ORM queries built them before `upline` (session 2's selectors)."""
    from rules.models import Referral

    def referrer_of(person):
        referral = (
            Referral.objects.filter(referred=person).select_related("referrer__program").first()
        )
        return referral.referrer if referral else None

    def profile(person) -> dict[str, Any]:
        return {
            **person.attributes,
            "id": person.external_id,
            "joined_at": person.created_at,
            "referrals_count": Referral.objects.filter(referrer=person).count(),
        }

    facts = {"referred": profile(participant)}
    referrer = referrer_of(participant)
    if referrer is not None:
        facts["referrer"] = profile(referrer)
        parent = referrer_of(referrer)
        if parent is not None:
            facts["parent"] = profile(parent)
    return facts


def _current(participant) -> dict[str, Any]:
    from rules.selectors import facts_build

    facts, _ = facts_build(
        participant=participant,
        user=participant.external_id,
        type="purchase",
        occurred_at=participant.created_at,
        data={},
    )
    del facts["event"]
    return facts


def _backend_cpu() -> float:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return process_cpu(pid)


def _seed(people: int) -> dict[int, list]:
    """`people` users at each depth (0: no referrer, 1: a referrer, 2: and a referrer's
    referrer); returns them by depth."""
    from rules.models import Participant
    from rules.rewards.services.programs import program_create
    from rules.services.referrals import referral_create

    program, _ = program_create(slug="bench", name="Bench", currency="INR")
    tops = [f"top{i}" for i in range(10)]
    mids = [f"mid{i}" for i in range(people)]
    for i, mid in enumerate(mids):
        referral_create(program=program, referrer=tops[i % 10], referred=mid, actor="bench")
    for i in range(people):
        referral_create(program=program, referrer=mids[i], referred=f"leaf{i}", actor="bench")
    for i in range(people):
        Participant.objects.create(
            program=program, external_id=f"solo{i}", referral_code=secrets.token_hex(6)
        )
    by_depth = {}
    for depth, prefix in enumerate(["solo", "mid", "leaf"]):
        by_depth[depth] = list(
            Participant.objects.filter(program=program, external_id__startswith=prefix)
            .select_related("program")
            .order_by("id")
        )
    return by_depth


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=300, help="users at each depth")
    parser.add_argument("--rounds", type=int, default=20, help="alternating blocks per way")
    args = parser.parse_args()

    with django_on_scratch_database(DB):
        print(f"seeding {args.people} users at each of 3 depths...", flush=True)
        by_depth = _seed(args.people)
        ways = {"reference (ORM)": _reference, "facts_build (upline)": _current}
        print(f"{'depth':<6} {'way':<22} {'process ms':>11} {'PostgreSQL ms':>14}")
        for depth, people in by_depth.items():
            for person in people[:20]:  # both give the same facts; warms both paths
                assert _reference(person) == _current(person), person.external_id
            spent = {name: [0.0, 0.0, 0] for name in ways}
            block = max(1, len(people) // args.rounds)
            for round_ in range(args.rounds):
                order = list(ways.items()) if round_ % 2 == 0 else list(ways.items())[::-1]
                chunk = people[round_ * block % len(people) :][:block]
                for name, way in order:
                    pg, cpu = _backend_cpu(), time.process_time()
                    for person in chunk:
                        way(person)
                    spent[name][0] += time.process_time() - cpu
                    spent[name][1] += _backend_cpu() - pg
                    spent[name][2] += len(chunk)
            per = {n: (1000 * c / k, 1000 * p / k) for n, (c, p, k) in spent.items()}
            for name, (cpu, pg) in per.items():
                print(f"{depth:<6} {name:<22} {cpu:>11.3f} {pg:>14.3f}")
            (ref_cpu, ref_pg), (cur_cpu, cur_pg) = per.values()
            print(
                f"{depth:<6} {'reference / current':<22} {ref_cpu / cur_cpu:>10.1f}x"
                f" {ref_pg / cur_pg if cur_pg else float('inf'):>13.1f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
