"""The partner portal (SPEC section 12): participants' own pages at /portal/{program}/, signed
in by email links. It reads the domain through its selectors and writes through its services,
like the API; builder/portal/models.py says who a partner is. docs/PORTAL.md is the overview."""
