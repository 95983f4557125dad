"""Celery (and the inline scheduler) discover each installed app's `tasks` module; the
platform's tasks are webhook delivery's, kept beside it."""

from config.platform.webhooks.tasks import webhook_deliver_due, webhook_deliver_messages

__all__ = ["webhook_deliver_due", "webhook_deliver_messages"]
