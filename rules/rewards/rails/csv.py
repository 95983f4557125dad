"""The `csv` rail: the operator pays from a file (SPEC §13), then confirms or fails each item.

Executing hands nothing to anyone, so `send` answers `sent` for every item (the money left the
partner's balance for payouts clearing) and `poll` knows nothing more. The files:

- `generic`: SPEC §7's file, one row per item with amounts and the transfer's reference, and no
  payout details (safe to pass round);
- `paypal_mass_pay`: PayPal Payouts' upload file (recipient, amount, currency, reference, note,
  wallet; no header row, as PayPal's template), with the real PayPal email;
- `wise_batch`: Wise's batch payment file (name, recipient, reference, receiver type, currencies,
  amount, IBAN / BIC or account number / IFSC), with the real bank details.

The payment files carry the decrypted details because the provider needs them; they are made
only on request, never stored, and only of approved or executed batches.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal

from config.platform import csvsafe
from config.platform.currencies import currency_exponent
from rules.rewards.rails.base import RailItem, RailResult, rail_register

FORMATS = ("generic", "paypal_mass_pay", "wise_batch")
# Which payout method each payment file needs.
FORMAT_METHODS = {"paypal_mass_pay": "paypal", "wise_batch": "bank_transfer"}


def major(amount: int, currency: str) -> Decimal:
    exponent = currency_exponent(currency)
    return Decimal(amount).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


class CsvRail:
    name = "csv"
    # Sends nothing over the network: execution calls it inside its own database transaction.
    local = True

    def send(
        self, *, program_id: int, batch_id: int, items: Sequence[RailItem]
    ) -> list[RailResult]:
        return [RailResult(item_id=i.item_id, status="sent") for i in items]

    def poll(self, *, program_id: int, provider_refs: Sequence[str]) -> list[RailResult]:
        return []


def csv_generic(rows: Sequence[tuple[str, int, str, str]]) -> str:
    """rows: (beneficiary, amount in minor units, currency, reference). The file of SPEC §7,
    unchanged (its columns are a contract): no payout details at all."""
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(["beneficiary", "amount_minor", "amount", "currency", "reference"])
    for beneficiary, amount, currency, reference in rows:
        writer.writerow([beneficiary, amount, major(amount, currency), currency, reference])
    return out.getvalue()


def csv_paypal_mass_pay(items: Sequence[RailItem]) -> str:
    out = io.StringIO()
    writer = csvsafe.writer(out)
    for item in items:
        writer.writerow(
            [
                item.details.get("email", ""),
                major(item.amount, item.currency),
                item.currency,
                item.idempotency_key,
                item.note,
                "PAYPAL",
            ]
        )
    return out.getvalue()


WISE_HEADER = [
    "name",
    "recipientEmail",
    "paymentReference",
    "receiverType",
    "amountCurrency",
    "amount",
    "sourceCurrency",
    "targetCurrency",
    "IBAN",
    "BIC",
    "accountNumber",
    "ifscCode",
]


def csv_wise_batch(items: Sequence[RailItem]) -> str:
    out = io.StringIO()
    writer = csvsafe.writer(out)
    writer.writerow(WISE_HEADER)
    for item in items:
        d = item.details
        writer.writerow(
            [
                d.get("name", ""),
                "",
                item.idempotency_key,
                "PRIVATE",
                "target",
                major(item.amount, item.currency),
                item.currency,
                item.currency,
                d.get("iban", ""),
                d.get("bic", ""),
                d.get("account_number", ""),
                d.get("ifsc", ""),
            ]
        )
    return out.getvalue()


rail_register(CsvRail())
