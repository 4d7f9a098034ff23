"""``agent bench``: speed and accuracy measured on the user's own machine.

Each suite is a module ``agent/bench/<suite>.py`` with ``run(opts: BenchOptions) -> Suite``.
Suites compare as ratios within one run; nothing here is a pass/fail timing test.
"""

SUITES = ("emotion", "perception", "tts", "animation", "render", "latency", "soak", "serve")
