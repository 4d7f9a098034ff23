"""Plugins: robots, VTuber apps and web front-ends driven by the agent (see docs/plugins.md).

Write one by subclassing ``plugins.api.Plugin``; register it under the entry-point group
``embodied_agent.plugins``; test it with ``plugins.testing.run_plugin``.
"""

from plugins.api import API_VERSION, BlockingPlugin, Capabilities, Plugin, PluginContext, PluginSettings

__all__ = ["API_VERSION", "BlockingPlugin", "Capabilities", "Plugin", "PluginContext", "PluginSettings"]
