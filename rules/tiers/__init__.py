"""Partner tiers (issue 15 item 7): programs level their partners up over a rolling window."""
