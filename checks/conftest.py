"""`pytest checks --kvstack-stack S`: the kvstack plugin, loaded for the checks folder."""

from checks.plugin import *  # noqa: F403  (hooks and fixtures of the plugin)
