"""What prune may remove: only this copy's images, past the newest kept, with their own size."""
from __future__ import annotations

from helpers import fake_engine
from tasks.engine import garbage
from tasks.engine.client import LABEL_MADE

PROJECT = "/p/.ac295"


def made(image_id: str, task: str, created: int, tags: list[str], project: str = PROJECT,
         size: int = 1000) -> dict:
    return {"Id": image_id, "RepoTags": tags, "Created": created, "Size": size,
            "Labels": {LABEL_MADE: f"sha256:in-{image_id} {task} {project}"}}


def test_only_this_copys_spare_images_beyond_the_newest_kept():
    listing = [made(f"sha256:{n}", "ex:image", n, [f"me/app:in-{n}"]) for n in range(1, 6)]
    listing.append(made("sha256:theirs", "ex:image", 0, ["me/app:x"], project="/other"))
    engine, client = fake_engine(listing, PROJECT)
    client.api.history.return_value = [{"Id": "x"}]
    found = garbage.unused_images(engine, needed_inputs={"sha256:in-sha256:5"},
                                  needed_ids={"sha256:4"}, keep=2)
    # 5 and 4 are needed, 3 and 2 are the newest spare ones: 1 goes
    assert [g.ident for g in found] == ["sha256:1"]
    assert (found[0].task, found[0].name) == ("ex:image", "me/app:in-1")


def test_an_image_frees_what_it_holds_beyond_its_named_ancestor():
    listing = [made("sha256:top", "ex:image", 3, ["me/app:1"], size=255_000_000),
               {"Id": "sha256:step", "RepoTags": None, "Size": 254_999_000},  # the COPY step
               {"Id": "sha256:base", "RepoTags": ["me/base:1"], "Size": 250_000_000}]
    engine, client = fake_engine(listing, PROJECT)
    client.api.history.return_value = [{"Id": "sha256:top"}, {"Id": "sha256:step"},
                                       {"Id": "<missing>"}, {"Id": "sha256:base"}]
    info = engine.info("sha256:top")
    assert info is not None
    assert garbage.own_size(engine, info) == 5_000_000  # the builder's steps go with it


def test_sizes_read_as_a_person_reads_them():
    assert [garbage.human(n) for n in (512, 3_100, 148_900_000, 2_500_000_000)] == \
        ["512 B", "3.1 kB", "148.9 MB", "2500.0 MB"]


def test_a_killed_runs_volumes_are_leftovers_removed_before_images():
    from unittest import mock

    from tasks.engine.client import LABEL_PROJECT, LABEL_TASK

    engine, client = fake_engine([], PROJECT)
    volume = mock.Mock(attrs={"Labels": {LABEL_TASK: "compose:app.dbdata.volume"}})
    volume.name = "p-compose-app_dbdata"
    client.volumes = mock.Mock()
    client.volumes.list.return_value = [volume]
    found = garbage.stale_volumes(engine)
    client.volumes.list.assert_called_once_with(filters={"label": f"{LABEL_PROJECT}={PROJECT}"})
    assert [(g.kind, g.ident, g.task) for g in found] == \
        [("volume", "p-compose-app_dbdata", "compose:app.dbdata.volume")]
    image = garbage.Garbage("image", "sha256:1", "me/app:1", 10, "ex:image")
    order: list[str] = []
    client.api.remove_image.side_effect = lambda *a, **k: order.append("image")
    client.api.remove_volume.side_effect = lambda *a, **k: order.append("volume")
    garbage.remove(engine, [image, *found], lambda line: None)
    assert order == ["volume", "image"]
    client.api.remove_volume.assert_called_once_with("p-compose-app_dbdata", force=True)


def test_removal_goes_containers_networks_then_images_and_counts_what_it_freed():
    import docker.errors

    engine, client = fake_engine([], PROJECT)
    calls: list[str] = []
    client.api.remove_container.side_effect = lambda ident, force: calls.append(f"c {ident}")
    client.api.remove_network.side_effect = lambda ident: calls.append(f"n {ident}")

    def remove_image(ident, force, noprune):
        calls.append(f"i {ident}")
        if ident == "sha256:parent":
            raise docker.errors.APIError("conflict", explanation="image has dependent child")
        if ident == "sha256:gone":
            raise docker.errors.NotFound("gone")

    client.api.remove_image.side_effect = remove_image
    said: list[str] = []
    items = [garbage.Garbage("image", "sha256:child", "me/app:2", 300, "ex:image"),
             garbage.Garbage("image", "sha256:parent", "me/app:1", 500, "ex:image"),
             garbage.Garbage("network", "n1", "net", 0, "ex:net"),
             garbage.Garbage("image", "sha256:gone", "me/app:0", 700, "ex:image"),
             garbage.Garbage("container", "c1", "box", 0, "ex:run")]
    freed = garbage.remove(engine, items, said.append)
    # containers hold networks and images, networks nothing: they go first; images in the
    # order given (newest first: a child before its parent)
    assert calls == ["c c1", "n n1", "i sha256:child", "i sha256:parent", "i sha256:gone"]
    assert freed == 300  # only what was removed
    assert said == ["removed container box (c1; ex:run)", "removed network net (n1; ex:net)",
                    "removed image me/app:2 (sha256:child, 300 B; ex:image)",
                    "kept image me/app:1 (sha256:parent, 500 B; ex:image): image has "
                    "dependent child"]
