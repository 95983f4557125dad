"""The portal's forms: input checks only; the services decide."""

from __future__ import annotations

from django import forms


class EmailForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Your email address")


class JoinForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Your email address")
    name = forms.CharField(max_length=200, required=False, label="Your name (optional)")


class TokenForm(forms.Form):
    sesame = forms.CharField(max_length=500, widget=forms.HiddenInput)


class LinkForm(forms.Form):
    slug = forms.RegexField(
        regex=r"^[a-z0-9-]{1,40}$",
        max_length=40,
        label="Name",
        help_text="Lower-case letters, digits and dashes, e.g. spring-newsletter",
        error_messages={"invalid": "Use lower-case letters, digits and dashes (up to 40)."},
    )
    destination = forms.CharField(
        max_length=2000,
        required=False,
        label="Page it leads to (optional)",
        help_text="Empty: the program's home page. Must be on the program's own site.",
    )


class PreferencesForm(forms.Form):
    email_reward_confirmed = forms.BooleanField(
        required=False, label="A reward is confirmed (with its amount)"
    )
    email_payout_sent = forms.BooleanField(required=False, label="A payout is sent to you")
    email_payout_failed = forms.BooleanField(
        required=False, label="A payout could not be sent (so you can fix your payout details)"
    )
