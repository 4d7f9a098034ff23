"""Finding plugins through entry points and reading ``NAME[:key=value,...]`` specs."""

import pytest

from agent.core.bus import EventBus
from agent.core.errors import UserError
from agent.core.tasks import TaskOwner
from plugins.api import Plugin
from plugins.host import PluginHost
from plugins.registry import PluginSpec, available, load_class, merge_specs


def test_shipped_plugins_are_found_through_entry_points():
    eps = available()
    assert {"websocket", "vmc", "servo"} <= set(eps)
    names = {n: load_class(n).__name__ for n in ("websocket", "vmc", "servo")}
    assert names == {"websocket": "WebSocketBridge", "vmc": "VMCSender", "servo": "ServoHead"}
    assert all(issubclass(load_class(n), Plugin) for n in names)


@pytest.mark.parametrize("spec,name,settings", [
    ("vmc", "vmc", {}),
    ("vmc:host=127.0.0.1,port=39539", "vmc", {"host": "127.0.0.1", "port": "39539"}),
    (" servo : transport = sim , rate=20 ", "servo", {"transport": "sim", "rate": "20"}),
    ("websocket:token=a=b", "websocket", {"token": "a=b"}),
    ("vmc:", "vmc", {}),
])
def test_spec_parsing(spec, name, settings):
    assert PluginSpec.parse(spec) == PluginSpec(name, settings)


@pytest.mark.parametrize("spec,message", [
    (":port=1", "has no name"),
    ("vmc:port", "'port' is not key=value"),
    ("vmc:=1", "'=1' is not key=value"),
    ("vmc:port=1,port=2", "sets 'port' twice"),
])
def test_bad_specs_are_one_line(spec, message):
    with pytest.raises(UserError, match=message):
        PluginSpec.parse(spec)


def test_unknown_plugin_lists_the_known_ones():
    with pytest.raises(UserError, match=r"^unknown plugin 'vmcc'; known plugins: .*servo, vmc, websocket"):
        load_class("vmcc")


def test_command_line_overrides_persona_and_duplicates_are_refused():
    merged = merge_specs(["vmc:port=1"], ["vmc:port=2", "servo:transport=sim"])
    assert merged == [PluginSpec("vmc", {"port": "1"}), PluginSpec("servo", {"transport": "sim"})]
    with pytest.raises(UserError, match="'vmc' is given twice"):
        merge_specs(["vmc", "vmc:port=3"])


def test_from_specs_builds_validated_plugins():
    bus, owner = EventBus(), TaskOwner("t")
    host = PluginHost.from_specs(["vmc:port=40000"], ["servo:transport=sim"], bus=bus, owner=owner,
                                 policy="restart")
    assert host.status() == {"servo": "idle", "vmc": "idle"}
    assert host.plugin("vmc").settings.port == 40000
    with pytest.raises(UserError, match="policy 'sometimes' is not one of: disable, restart"):
        PluginHost(bus, owner, "sometimes")
    with pytest.raises(UserError, match=r"plugin vmc: unknown setting 'prot'; allowed settings: host, port"):
        PluginHost.from_specs(["vmc:prot=1"], bus=bus, owner=owner)


def test_broken_third_party_plugin_is_one_line(monkeypatch):
    from importlib.metadata import EntryPoint

    import plugins.registry as registry

    broken = EntryPoint("broken", "no_such_module_xyz:Thing", registry.GROUP)
    notplugin = EntryPoint("notplugin", "json:JSONDecoder", registry.GROUP)
    monkeypatch.setattr(registry, "available", lambda: {"broken": broken, "notplugin": notplugin})
    failed = r"plugin 'broken' \(no_such_module_xyz:Thing\) failed to import: ModuleNotFoundError"
    with pytest.raises(UserError, match=failed):
        load_class("broken")
    with pytest.raises(UserError, match="is not a plugins.api.Plugin subclass"):
        load_class("notplugin")


def test_cli_options_feed_from_specs_and_listing_names_settings():
    import argparse

    from plugins.cli import add_arguments, describe

    args = add_arguments(argparse.ArgumentParser()).parse_args(
        ["--plugin", "vmc:port=39540", "--plugin", "servo:transport=sim", "--plugin-policy", "restart"])
    host = PluginHost.from_specs(args.plugin, bus=EventBus(), owner=TaskOwner("t"), policy=args.plugin_policy)
    assert host.status() == {"vmc": "idle", "servo": "idle"} and host.policy.value == "restart"
    text = describe()
    assert "vmc  (plugins.vmc.VMCSender, API 2.0)" in text
    assert "names: arkit|vrm|both = 'arkit'" in text and "max_speed: float = 120.0" in text
