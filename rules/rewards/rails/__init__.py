"""Payout rails: how a payout batch's money leaves the program (SPEC §13).

`base` holds the interface and the registry; `csv` and `external` are the operator-driven rails,
`paypal` and `stripe_connect` the provider rails. Importing this package registers them all.
"""
