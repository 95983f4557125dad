"""Operators (the "operators" group, migration portal 0005) read the partner emails."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from builder.portal.models import EmailOutbox

pytestmark = pytest.mark.django_db


def test_operators_see_the_partner_emails(program):
    EmailOutbox.objects.create(
        program=program, beneficiary="alice", kind="payout_failed", object_key="payout_item:1"
    )
    user = get_user_model().objects.create_user(username="op", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="operators"))
    client = Client()
    client.force_login(user)
    page = client.get("/admin/portal/emailoutbox/")
    assert page.status_code == 200
    assert b"Payout failed" in page.content and b"Send again" in page.content
    assert client.get("/admin/portal/emailoutbox/add/").status_code == 403
