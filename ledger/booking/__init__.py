"""Booking: writing a transaction, its postings and its accounts' stored totals, all or nothing.

The public services (ledger.services.transactions) validate a request (`lines`) and hand it to
one of two bookings that write the same rows: `postgres`, one prepared statement that a caller
may extend with rows of its own (riders), and `portable`, the ORM under a savepoint (SQLite).
`totals` is what both do to the stored totals and how both refuse.
"""
