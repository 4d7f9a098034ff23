"""The core every package shares: events, bus, channel, tasks, the clock, errors, speech and
face-state types, affect types and the stage protocols.

It imports nothing from the project outside itself; ``persona``, ``perception``, ``render`` and
``plugins`` import from ``agent`` only through here (``tests/test_layers.py`` reads the imports).
"""
