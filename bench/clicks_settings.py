"""bench/clicks.py's server settings with --buffer-seconds: the project's own, with clicks
buffered (CLICK_BUFFER_SECONDS, rules/links/services/click_buffer.py) as the environment says."""

import os

from config.settings.base import *  # noqa: F403

CLICK_BUFFER_SECONDS = float(os.environ.get("CLICK_BUFFER_SECONDS", "0"))
