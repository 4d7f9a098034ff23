import asyncio
import inspect
import os
import tempfile

import pytest
from speech_fixtures import speech  # noqa: F401  (a fixture every speech test shares)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# memories written by tests stay out of the user's own data folder
os.environ.setdefault("AGENT_MEMORY_DIR", tempfile.mkdtemp(prefix="agent-test-memory-"))


def pytest_collection_modifyitems(items):
    """Every async test checks that it leaves no task running (STYLE.md rule 8)."""
    for item in items:
        if inspect.iscoroutinefunction(getattr(item, "function", None)):
            item.add_marker(pytest.mark.usefixtures("no_leaked_tasks"))


@pytest.fixture
async def no_leaked_tasks():
    """Fails when the test leaves tasks running; every async test has it (see above)."""
    before = set(asyncio.all_tasks())
    yield
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()]
    assert not leaked, f"leaked tasks: {[t.get_name() for t in leaked]}"


@pytest.fixture
def shared_data():
    """The development data (PELD, EmoBank) beside the checkout; CI has it, a bare clone may not."""
    from persona.heads import data_dir

    path = data_dir()
    if not (path / "peld" / "peld_valid.tsv").exists():
        pytest.skip(f"no development data at {path} (set AGENT_DATA_DIR)")
    return path
