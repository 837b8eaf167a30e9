"""The web app over the real use cases over the in-memory FakeStore, with a
fake pod host that has the images, node n1's container and its log."""
import pytest

from orchestrator.api import create_app
from orchestrator.core.model import Container
from orchestrator.usecases import UseCases
from tests.unit.api import AUTH, IMAGES, TOKEN
from tests.unit.fakes import FakeHost, FakeHosts


@pytest.fixture
def app(store):
    """The web app over the use cases over ``store`` (not initialized), hosts faked."""
    n1 = Container("sc-light.n1.g1", "light", "n1", "light", "running", "10.0.0.2", "img", "g1", "id1", 1.0)
    host = FakeHost(images=IMAGES, logs={"sc-light.n1.g1": "line 1\nline 2\nline 3\n"}, containers=[n1])
    return create_app(UseCases.over(store, FakeHosts(host)), token=TOKEN)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cluster(client):
    """A client on an initialized cluster (light, medium, heavy and their jobs)."""
    assert client.post("/api/init", headers=AUTH).status_code == 200
    return client
