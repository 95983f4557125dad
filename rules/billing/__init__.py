"""Billing connectors (SPEC section 13): Stripe and Paddle Billing webhooks become events."""
