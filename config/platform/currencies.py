"""ISO 4217 alphabetic codes of the currencies a program may run in (the list current in 2025).

Kept here rather than taken from a package: the list changes a code or two a year, and a stale
entry only lets an operator pick a currency that was withdrawn. Left out on purpose: the codes
that are no money one pays rewards in (precious metals XAU XAG XPD XPT, the bond-market units
XBA-XBD, XDR, XSU, XUA, the testing code XTS and XXX "no currency")."""

from __future__ import annotations

import re

_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD
    EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD
    IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
    MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
    PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN
    SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
    VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
ISO_4217: frozenset[str] = frozenset(_CODES.split())


def is_iso_4217(code: str) -> bool:
    return code in ISO_4217


# The shape of a currency code (is_iso_4217 says whether it is a real one).
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")

# The money limit: the largest amount one posting (and one reward, item or credits operation)
# may carry, in minor units: 10^15 is ten trillion rupees or dollars. Stored totals are bigints
# (up to 9.2 * 10^18), so an account takes at least 9,223 maximal postings before its totals
# would overflow; a booking that would overflow them is refused (BalanceOverflow), never a 500.
MAX_AMOUNT = 10**15


# ISO 4217 minor-unit exponents that are not 2 (the CSV shows major units for the bank).
_EXPONENTS = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}


def currency_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)
