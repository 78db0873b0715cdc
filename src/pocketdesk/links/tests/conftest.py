import pytest

from pocketdesk.links.visits import visit_recorder


@pytest.fixture(autouse=True)
def _no_visits_left_between_tests():
    visit_recorder.drain()
    yield
    visit_recorder.drain()
