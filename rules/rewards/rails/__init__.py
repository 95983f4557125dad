"""Payout rails: how a payout batch's money leaves the program (SPEC §13).

`base` holds the interface and the registry; `csv` and `external` are the operator-driven rails,
`paypal` and `stripe_connect` the provider rails. Each module registers its rail when it is
imported; RulesConfig.ready() imports all four.
"""
