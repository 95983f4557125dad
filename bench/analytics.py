"""`GET P/analytics` over 10 million clicks: the selector's time, program-wide and per partner.

    .venv/bin/python bench/analytics.py [--partners 1000] [--days 365] [--runs 30]

Creates the scratch PostgreSQL database bench_analytics (dropped at the end), migrates it and
loads, with INSERT ... SELECT generate_series (no services: the shape is what matters), one
program holding:

- `--partners` partners, each with one click roll-up row (rules_clickdaily) per day for `--days`
  days ending today: 1 to 54 clicks a day (27.5 on average), 80% of them unique. 1,000 x 365 is
  365,000 rows standing for 10.0 million clicks, and the program's daily roll-up
  (rules_programclickdaily, one row per day: what program-wide analytics read);
- referrals: 2% of the clicks (200,000 for the default shape), each of a new user, spread evenly
  over the days and the partners;
- conversions: every second referred user's purchase event a day after the referral, with one
  reward (rules_rewardlink + ledger_reward) to the partner, statuses in turn, 10-500 INR;
- a second program with a tenth of the same, so the program filter has something to skip.

Then VACUUM ANALYZE (index-only scans need the visibility map; autovacuum keeps it in
production) and it times `rules.links.analytics.analytics` (what the API view calls, Python
bucketing included) for a 90-day range by day: program-wide, and per partner (a different
partner each run). It prints the median, p95 and max of `--runs` runs after 3 warm-ups, the
plan of each of the four queries (EXPLAIN ANALYZE, program-wide) and checks the totals against
the generated shape. Target (issue 13): under 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._harness import django_on_scratch_database  # noqa: E402

DB = "bench_analytics"
TARGET_MS = 50.0


def load(program_id: int, slug: str, partners: int, days: int, cursor, today) -> dict[str, int]:
    """The rows of one program; returns how many of each it wrote."""
    first_day = today - timedelta(days=days - 1)
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    params = {"p": program_id, "slug": slug, "n": partners, "days": days, "day0": first_day}
    cursor.execute(
        """INSERT INTO rules_participant
             (program_id, external_id, attributes, referral_code, created_at, updated_at)
           SELECT %(p)s, 'partner' || i, '{}', %(slug)s || 'p' || i, now(), now()
           FROM generate_series(0, %(n)s - 1) i""",
        params,
    )
    cursor.execute(
        """INSERT INTO rules_clickdaily
             (program_id, participant_id, link_id, day, clicks, unique_clicks, bot_clicks)
           SELECT %(p)s, pa.id, NULL, %(day0)s::date + d, c, c * 4 / 5, c / 10
           FROM rules_participant pa
           CROSS JOIN generate_series(0, %(days)s - 1) d
           CROSS JOIN LATERAL (SELECT 1 + ((pa.id * 7919 + d * 104729) %% 54) AS c) k
           WHERE pa.program_id = %(p)s""",
        params,
    )
    # The program's own daily roll-up, as the roll-up job writes it beside the partners' rows.
    cursor.execute(
        """INSERT INTO rules_programclickdaily
             (program_id, day, clicks, unique_clicks, bot_clicks)
           SELECT program_id, day, sum(clicks), sum(unique_clicks), sum(bot_clicks)
           FROM rules_clickdaily WHERE program_id = %(p)s GROUP BY program_id, day""",
        params,
    )
    cursor.execute(
        "SELECT coalesce(sum(clicks), 0) FROM rules_clickdaily WHERE program_id = %s",
        [program_id],
    )
    clicks = int(cursor.fetchone()[0])
    referrals = clicks // 50
    step = days * 86400 / referrals
    params |= {"r": referrals, "since": since, "step": step}
    cursor.execute(
        """INSERT INTO rules_participant
             (program_id, external_id, attributes, referral_code, created_at, updated_at)
           SELECT %(p)s, 'user' || k, '{}', %(slug)s || 'u' || k, now(), now()
           FROM generate_series(0, %(r)s - 1) k""",
        params,
    )
    cursor.execute(
        """INSERT INTO rules_referral (program_id, referrer_id, referred_id, created_at)
           SELECT %(p)s, partner.id, u.id,
                  %(since)s::timestamptz + make_interval(secs => k * %(step)s)
           FROM generate_series(0, %(r)s - 1) k
           JOIN rules_participant u ON u.program_id = %(p)s AND u.external_id = 'user' || k
           JOIN rules_participant partner
             ON partner.program_id = %(p)s AND partner.external_id = 'partner' || (k %% %(n)s)""",
        params,
    )
    cursor.execute(
        """INSERT INTO rules_rule (program_id, name, status, latest_version, trigger, priority,
                                   created_at, updated_at)
           VALUES (%(p)s, 'bench', 'archived', 1, 'purchase', 10, now(), now()) RETURNING id""",
        params,
    )
    rule_id = cursor.fetchone()[0]
    cursor.execute(
        """INSERT INTO rules_ruleversion (rule_id, version, definition, created_at, created_by)
           VALUES (%s, 1, '{}', now(), 'bench') RETURNING id""",
        [rule_id],
    )
    params |= {"rule": rule_id, "version": cursor.fetchone()[0]}
    # Every second referred user buys a day after their referral; the partner earns a reward.
    cursor.execute(
        """CREATE TEMP TABLE conv AS
           SELECT r.referred_id AS user_id, partner.external_id AS partner,
                  r.created_at + interval '1 day' AS at, row_number() OVER () AS k
           FROM rules_referral r JOIN rules_participant partner ON partner.id = r.referrer_id
           WHERE r.program_id = %(p)s AND r.referred_id %% 2 = 0""",
        params,
    )
    cursor.execute(
        """INSERT INTO rules_event (program_id, event_id, type, participant_id, occurred_at,
             attributes, data, body_hash, status, attempts, results, error, created_at)
           SELECT %(p)s, 'e' || k, 'purchase', user_id, at, '{}', '{}', 'x', 'processed', 1,
                  '[]', '', at FROM conv""",
        params,
    )
    cursor.execute(
        """INSERT INTO ledger_reward (program_id, beneficiary, amount, currency, reward_type,
             status, metadata, source_key, hold_reason, created_at, updated_at)
           SELECT %(p)s, partner, 1000 + (k * 7907) %% 49000, 'INR', 'cash',
                  (ARRAY['pending','confirmed','paid','reversed','clawed_back'])[1 + k %% 5],
                  '{}', 'bench:' || k, '', at, at
           FROM conv""",
        params,
    )
    cursor.execute(
        """INSERT INTO rules_rewardlink (program_id, event_id, rule_id, rule_version_id,
             action_index, reward_id, beneficiary, amount, occurred_at, created_at)
           SELECT %(p)s, e.id, %(rule)s, %(version)s, 0, w.id, c.partner, w.amount, c.at, c.at
           FROM conv c
           JOIN rules_event e ON e.program_id = %(p)s AND e.event_id = 'e' || c.k
           JOIN ledger_reward w ON w.program_id = %(p)s AND w.source_key = 'bench:' || c.k""",
        params,
    )
    cursor.execute("SELECT count(*) FROM conv")
    conversions = int(cursor.fetchone()[0])
    cursor.execute("DROP TABLE conv")
    return {
        "partners": partners,
        "rollup_rows": partners * days,
        "clicks": clicks,
        "referrals": referrals,
        "conversions": conversions,
    }


def timed(call, runs: int) -> list[float]:
    for _ in range(3):
        call(0)
    out = []
    for i in range(runs):
        t0 = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    verdict = "met" if p95 < TARGET_MS else "MISSED"
    return (
        f"{name:<28} median {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  "
        f"max {ms[-1]:6.1f} ms  (target < {TARGET_MS:.0f} ms: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    with django_on_scratch_database(DB):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from rules.links.analytics import analytics
        from rules.models import Participant
        from rules.rewards.services.programs import program_create

        today = datetime.now(UTC).date()
        acme, _ = program_create(slug="acme", name="Acme", currency="INR")
        other, _ = program_create(slug="other", name="Other", currency="INR")
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            shape = load(acme.pk, "acme", args.partners, args.days, cursor, today)
            load(other.pk, "other", max(1, args.partners // 10), args.days, cursor, today)
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"loaded in {time.perf_counter() - t0:.0f} s: {shape}")

        start, end = today - timedelta(days=89), today
        partners = list(
            Participant.objects.filter(program=acme, external_id__startswith="partner")
            .order_by("id")
            .values_list("pk", flat=True)[: args.runs]
        )
        partner_rows = {p.pk: p for p in Participant.objects.filter(pk__in=partners)}

        def program_wide(_: int):
            return analytics(program=acme, start=start, end=end, interval="day")

        def per_partner(i: int):
            partner = partner_rows[partners[i % len(partners)]]
            return analytics(
                program=acme, start=start, end=end, interval="day", participant=partner
            )

        whole = program_wide(0)
        print(
            f"90 days, program-wide: clicks {whole.totals.clicks:,}, referrals "
            f"{whole.totals.referrals:,}, conversions {whole.totals.conversions:,}, rewards "
            f"{whole.totals.rewards_count:,} ({len(whole.buckets)} days)"
        )
        assert len(whole.buckets) == 90 and whole.totals.clicks > 0
        full = analytics(program=acme, start=today - timedelta(days=args.days - 1), end=today)
        assert full.totals.clicks == shape["clicks"], (full.totals.clicks, shape["clicks"])

        print(summary("program-wide, 90 days/day", timed(program_wide, args.runs)))
        print(summary("per partner, 90 days/day", timed(per_partner, args.runs)))

        with CaptureQueriesContext(connection) as queries:
            program_wide(0)
        with connection.cursor() as cursor:
            for query in queries.captured_queries:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                plan = [row[0] for row in cursor.fetchall()]
                print("\n" + query["sql"][:160] + " ...")
                print("\n".join("   " + line for line in plan))


if __name__ == "__main__":
    main()
