"""What `doit watch` asks before it counts a kept service, network or volume as still up."""
from __future__ import annotations

import pytest

from helpers import fake_engine
from tasks.engine import live


@pytest.mark.parametrize("containers, networks, volumes, up", [
    ([{"Id": "c"}], [], {"Volumes": None}, True),
    ([], [{"Id": "n"}], {"Volumes": None}, True),
    ([], [], {"Volumes": [{"Name": "v"}]}, True),
    ([], [], {"Volumes": None}, False),
], ids=["a running container", "a network", "a volume", "nothing"])
def test_running_asks_for_this_copys_things_of_the_task(containers, networks, volumes, up):
    engine, client = fake_engine(project_dir="/p/.ac295")
    client.api.containers.return_value = containers
    client.api.networks.return_value = networks
    client.api.volumes.return_value = volumes
    assert live.running(engine, "demo2:db") is up
    wanted = ["org.ac295.task=demo2:db", "org.ac295.project=/p/.ac295", "org.ac295.ephemeral=1"]
    client.api.containers.assert_called_once_with(
        filters={"label": wanted, "status": "running"}, quiet=True)
