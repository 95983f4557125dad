"""The partner portal (SPEC section 12): participants' own pages at /portal/{program}/, with
email sign-in links. It reads through the domain's selectors and writes through its services,
like the API; builder/portal/README below in models.py says who a partner is."""
