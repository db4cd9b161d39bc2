"""One Docker engine and one table of phase times for every compose test of the session."""

from __future__ import annotations

import pytest
from test_docker_compose import Phases

from docker_engine import Engine, engine_processes


@pytest.fixture(scope="session")
def phases():
    recorder = Phases()
    yield recorder
    print("\n" + recorder.table(), flush=True)


@pytest.fixture(scope="session")
def engine(phases):
    with phases("engine start"):
        docker = Engine().start()
    yield docker
    with phases("engine stop"):
        docker.stop()
    assert not (docker.owned or engine_processes()), "the private engine left processes running"
