"""The compose kind: a compose file read into ordinary steps, and every refused key reported
at its line. Expected steps are written by hand from the compose files below."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import ROOT, compile_project, load, load_config, spec_error, write_project
from tasks import project
from tasks.dsl import cache as cache_mod
from tasks.engine.options import Health
from tasks.kinds.actions import Always
from tasks.kinds.build import BuildStep
from tasks.kinds.compose import ComposeStep
from tasks.kinds.container import Use
from tasks.kinds.pull import PullStep
from tasks.kinds.run import RunStep
from tasks.kinds.service import ServiceStep

CONFIG = ("variables:\n  registry: 127.0.0.1:5000\n  local_prefix: 'p-'\n"
          "  base_image: 127.0.0.1:5000/ac295/base:bookworm\n")
SPEC = """\
doc: an app
steps:
  app:
    compose: docker-compose.yml
    variables: {BASE: "{base_image}", PORT: "8180"}
    runs: [check]
"""
COMPOSE = """\
version: "3.8"
x-common: &common {}
services:
  db:
    build:
      context: db
      args: {BASE_IMAGE: "${BASE}"}
    image: shop-db
    volumes: ["data:/var/lib/db", "./seed:/seed:ro"]
    user: "65534"
    healthcheck:
      test: ["CMD", "true"]
      interval: 2s
    networks:
      back: {aliases: [database]}
  web:
    build: web
    ports: ["127.0.0.1:${PORT}:80", {target: 53, published: 5353, protocol: udp}]
    env_file: web.env
    environment: [MODE=compose]
    command: python3 -u web.py
    entrypoint: [env]
    working_dir: /srv
    expose: ["80"]
    restart: "no"
    networks: [back]
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  migrate:
    image: shop-db
    networks: [back]
    command: ["python3", "migrate.py"]
    depends_on: [db]
  workers:
    image: "${BASE}"
    deploy: {replicas: 2}
  check:
    image: "${BASE}"
    depends_on: [web]
networks:
  back:
    name: shopNet
volumes:
  data: {}
"""
FILES = {"exercises/shop/exercise.yml": SPEC,
         "exercises/shop/docker-compose.yml": COMPOSE,
         "exercises/shop/db/Dockerfile": "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n",
         "exercises/shop/web/Dockerfile": "FROM scratch\n",
         "exercises/shop/web.env": "MODE=file\nDB_URL=http://database:8081\n",
         "exercises/shop/seed/a.txt": "a\n"}


@pytest.fixture
def shop(tmp_path):
    root = write_project(tmp_path, FILES, CONFIG)
    return load(root)["shop"], root.resolve() / "exercises" / "shop"


def test_the_file_becomes_these_steps(shop):
    exercise, _ = shop
    assert {name: step.kind for name, step in exercise.steps.items()} == {
        "app": "compose",
        "app.back.network": "network",
        "app.default.network": "network",  # workers and check join no other
        "app.data.volume": "volume",
        "app.db.image": "build", "app.web.image": "build",
        "app.workers.image": "pull",  # check pulls the same image: one pull step
        "app.db": "service", "app.web": "service",
        "app.migrate": "run",  # web waits for it to complete
        "app.workers.1": "service", "app.workers.2": "service",
        "app.check": "run",  # named in runs:
    }


def test_engine_names_carry_the_local_prefix(shop):
    steps = shop[0].steps
    assert steps["app.back.network"].network == "p-shopNet"  # the network's own name:
    assert steps["app.data.volume"].volume == "p-shop-app_data"
    assert steps["app.db.image"].tag == "p-shop-app-db:latest"
    assert steps["app.db"].container_name == "p-shop-app-db"
    assert [steps[f"app.workers.{n}"].container_name for n in (1, 2)] == \
        ["p-shop-app-workers-1", "p-shop-app-workers-2"]
    assert steps["app.workers.1"].aliases == ("workers",)


def test_builds_pulls_and_what_runs_them(shop):
    steps, folder = shop[0].steps, shop[1]
    db = steps["app.db.image"]
    assert isinstance(db, BuildStep)
    assert (db.context, db.dockerfile) == (folder / "db", folder / "db" / "Dockerfile")
    assert dict(db.args) == {"BASE_IMAGE": "127.0.0.1:5000/ac295/base:bookworm"}
    assert db.bases == ("127.0.0.1:5000/ac295/base:bookworm",)
    assert steps["app.migrate"].image == "app.db.image"  # image: shop-db is db's build
    pulled = steps["app.workers.image"]
    assert isinstance(pulled, PullStep) and pulled.ref == "127.0.0.1:5000/ac295/base:bookworm"
    assert steps["app.check"].image == "app.workers.image"


def test_a_service_carries_every_key_over(shop):
    steps, folder = shop[0].steps, shop[1]
    web, db = steps["app.web"], steps["app.db"]
    assert isinstance(web, ServiceStep) and isinstance(db, ServiceStep)
    assert web.command == ("python3", "-u", "web.py")
    assert web.entrypoint == ("env",)
    assert web.working_dir == "/srv"
    assert dict(web.env) == {"MODE": "compose", "DB_URL": "http://database:8081"}
    assert dict(web.ports) == {"80": "8180", "53/udp": "5353"}
    assert web.network == "app.back.network"
    assert web.aliases == ("web",)
    assert web.ready is None and web.healthcheck is None
    assert db.aliases == ("db", "database")
    assert db.user == "65534"
    assert db.volumes == (Use(target="/var/lib/db", volume="app.data.volume"),
                          Use(target="/seed", path=folder / "seed", read_only=True))
    assert db.healthcheck == Health(test=("CMD", "true"), interval=2.0, timeout=30.0,
                                    retries=3, start_period=0.0)  # Docker's defaults
    assert db.ready is not None and db.ready.healthy and db.ready.timeout == \
        db.healthcheck.bound()
    assert steps["app.workers.1"].network == "app.default.network"  # joins no other


def test_default_network_only_when_used(tmp_path):
    root = write_project(tmp_path, {**FILES, "exercises/shop/docker-compose.yml":
                                    "services:\n  check:\n    image: x\n    networks: [n]\n"
                                    "networks:\n  n: {}\n"}, CONFIG)
    steps = load(root)["shop"].steps
    assert "app.n.network" in steps and "app.default.network" not in steps


def test_depends_on_becomes_after(shop):
    steps = shop[0].steps
    assert steps["app.web"].after == ("shop:app.db", "shop:app.migrate")
    assert steps["app.migrate"].after == ("shop:app.db",)
    assert steps["app.check"].after == ("shop:app.web",)
    app = steps["app"]
    assert isinstance(app, ComposeStep)
    assert set(app.after) == {f"shop:app.{s}" for s in
                              ("db", "web", "migrate", "workers.1", "workers.2", "check")}
    assert app.runs == ("check", "migrate")


def test_runs_are_one_shot_runs_on_the_network_that_must_exit_0(shop):
    check = shop[0].steps["app.check"]
    assert isinstance(check, RunStep)
    assert check.network == "app.default.network" and check.expect.exit_code == 0
    assert check.expect.stdout == ()


def test_the_compose_steps_after_reaches_every_step_it_makes(tmp_path):
    spec = SPEC.replace("    runs: [check]\n", "    runs: [check]\n    after: [first]\n") + \
        "  first: {sh: 'true'}\n"
    root = write_project(tmp_path, {**FILES, "exercises/shop/exercise.yml": spec}, CONFIG)
    steps = load(root)["shop"].steps
    for name, step in steps.items():
        if name.startswith("app."):
            assert step.after[:1] == ("shop:first",), name


def test_steps_say_where_they_come_from(shop):
    exercise, folder = shop
    db = exercise.steps["app.db"]
    assert db.where.file == folder / "docker-compose.yml"
    assert db.where.line == 4 and db.where.key == "services.db"
    assert db.at("healthcheck").line == 11


def test_tasks_are_ordinary_tasks(tmp_path):
    root = write_project(tmp_path, {**FILES, "exercises/shop/exercise.yml": SPEC + (
        "  page: {sh: 'true', after: [app]}\n")}, CONFIG)
    tasks, _, rt = compile_project(root)
    assert [getattr(u, "what", "") for u in tasks["shop:app.db.image"]["uptodate"]][-1] == \
        "inputs digest and image"
    for name in ("app", "app.back.network", "app.data.volume", "app.db", "app.check", "page"):
        assert isinstance(tasks[f"shop:{name}"]["uptodate"][0], Always), name
    for name in ("app.back.network", "app.data.volume", "app.db", "app.web"):
        assert tasks[f"shop:{name}"]["meta"]["ac295_end"], name  # removed when the run ends
    assert set(tasks["shop:app.db"]["task_dep"]) == {"shop:app.back.network",
                                                    "shop:app.data.volume"}
    assert tasks["shop:app.db"]["file_dep"] == [str(rt.record_path("shop:app.db.image"))]
    assert "shop:app" in tasks["shop:page"]["task_dep"]
    assert set(tasks["shop:app"]["task_dep"]) >= {"shop:app.check", "shop:app.web"}


def test_the_example_exercise(tmp_path):
    exercises = load(ROOT, {"AC295_LOCAL_PREFIX": "t-", "AC295_COMPOSE_PORT": "8189"})
    steps = exercises["compose"].steps
    assert {n: s.kind for n, s in steps.items()} == {
        "app": "compose", "app.default.network": "network", "app.dbdata.volume": "volume",
        "app.database.image": "build", "app.api.image": "build", "app.frontend.image": "build",
        "app.integration-test.image": "build", "app.database": "service",
        "app.api": "service", "app.frontend": "service", "app.integration-test": "run",
        "page": "sh", "private": "sh"}
    assert steps["app.frontend"].ports == {"8080": "8189"}
    assert steps["app.api"].env["DB_URL"] == "http://database:8091"  # from api.env
    assert steps["app.database"].user == "65534:65534"
    assert steps["app.integration-test"].entrypoint == ("python3", "-u")
    assert steps["app.integration-test"].working_dir == "/tests"
    assert all(s.healthcheck for n, s in steps.items() if isinstance(s, ServiceStep))
    assert steps["app.database.image"].tag == "t-compose-app-database:latest"


# --- refused keys: one paragraph at the compose file's line --------------------------------

REFUSED = [
    # (service lines under `web:`, the refused key's path, the words the reason holds)
    ("privileged: true", "services.web.privileged", "unprivileged"),
    ("network_mode: host", "services.web.network_mode", "host networking"),
    ("cap_add: [NET_ADMIN]", "services.web.cap_add", "isolation"),
    ("devices: ['/dev/kvm:/dev/kvm']", "services.web.devices", "isolation"),
    ("pid: host", "services.web.pid", "isolation"),
    ("security_opt: ['seccomp:unconfined']", "services.web.security_opt", "isolation"),
    ("mem_limit: 8g", "services.web.mem_limit", "bounded"),
    ("restart: always", "services.web.restart", "run lasts"),
    ("deploy: {replicas: 1, resources: {limits: {cpus: '2'}}}", "services.web.deploy.resources",
     "only 'replicas'"),
    ("deploy: {placement: {constraints: [node.role==manager]}}", "services.web.deploy.placement",
     "only 'replicas'"),
    ("build: {context: ., target: dev}", "services.web.build.target", "context, dockerfile"),
    ("secrets: [key]", "services.web.secrets", "environment"),
    ("links: [db]", "services.web.links", "by name"),
    ("profiles: [debug]", "services.web.profiles", "not supported"),
    ("extends: {service: base}", "services.web.extends", "in full"),
    ("volumes: ['/etc:/host-etc:ro']", "services.web.volumes", "outside the exercise folder"),
    ("volumes: ['../..:/up:ro']", "services.web.volumes", "outside the exercise folder"),
    ("volumes: ['../secrets:/secrets']", "services.web.volumes", "outside the exercise folder"),
    ("volumes: ['~/.ssh:/keys:ro']", "services.web.volumes", "outside the exercise folder"),
    ("volumes: ['./seed:/seed']", "services.web.volumes", "read-only"),
    ("volumes: [{type: bind, source: ./seed, target: /seed}]", "services.web.volumes",
     "read-only"),
    ("volumes: ['/data']", "services.web.volumes", "anonymous volume"),
    ("volumes: ['undeclared:/data']", "services.web.volumes", "not declared"),
    ("volumes: ['./seed:/seed:ro', 'undeclared:/data']", "services.web.volumes",
     "not declared"),
    ("volumes: [{type: tmpfs, target: /tmp}]", "services.web.volumes", "'tmpfs' mount"),
    ("volumes: ['./seed:/seed:z']", "services.web.volumes", "SOURCE:TARGET"),
    ("ports: ['0.0.0.0:8080:80']", "services.web.ports", "127.0.0.1 only"),
    ("ports: ['8080-8081:80-81']", "services.web.ports", "no ranges"),
    ("ports: ['80']", "services.web.ports", "random host port"),
    ("ports: ['0:80']", "services.web.ports", "random host port"),
    ("ports: ['70000:80']", "services.web.ports", "one port each"),
    ("networks: [a, b]", "services.web.networks", "exactly one"),
    ("networks: [nowhere]", "services.web.networks", "not declared"),
    ("networks: {a: {ipv4_address: 10.0.0.2}}", "services.web.networks.a.ipv4_address",
     "not supported"),
    ("environment: [FROM_SHELL]", "services.web.environment", "never from the environment"),
    ("environment: {DEBUG: true}", "services.web.environment.DEBUG", "not of type"),
    ("environment: {EMPTY: }", "services.web.environment.EMPTY", "no value"),
    ("env_file: ../../etc.env", "services.web.env_file", "outside the exercise folder"),
    ("depends_on: [nobody]", "services.web.depends_on", "no service of this file"),
    ("depends_on: {db: {condition: service_healthy}}", "services.web.depends_on",
     "no healthcheck"),
    ("healthcheck: {interval: 2s}", "services.web.healthcheck", "needs a 'test'"),
    ("healthcheck: {test: [CMD], interval: 2s}", "services.web.healthcheck", "is not [CMD"),
    ("healthcheck: {test: [], interval: 2s}", "services.web.healthcheck", "is not [CMD"),
    ("healthcheck: {test: '', interval: 2s}", "services.web.healthcheck", "is not [CMD"),
    ("healthcheck: {test: 'true', interval: soon}", "services.web.healthcheck.interval",
     "not a duration"),
    ("working_dir: relative/path", "services.web.working_dir", "absolute"),
    ("command: \"echo 'unclosed\"", "services.web.command", "cannot split"),
    ("deploy: {replicas: 2}\n    container_name: one", "services.web.deploy",
     "cannot share"),
    ("deploy: {replicas: 0}", "services.web.deploy.replicas", "1 or more"),
    ("build: ./missing", "services.web.build", "nothing to mount"),
    ("build: {context: ., dockerfile: Nope}", "services.web.build", "no Dockerfile"),
]
TOP_REFUSED = [
    ("networks:\n  ext: {external: true}\n", "networks.ext.external", "makes and removes"),
    ("networks:\n  ov: {driver: overlay}\n", "networks.ov.driver", "driver 'overlay'"),
    ("volumes:\n  ext: {external: true}\n", "volumes.ext.external", "makes and removes"),
    ("volumes:\n  nfs: {driver: nfs}\n", "volumes.nfs.driver", "driver 'nfs'"),
    ("secrets:\n  key: {file: ./key}\n", "secrets", "environment"),
    ("configs:\n  conf: {file: ./conf}\n", "configs", "read-only"),
]
BASE_COMPOSE = """\
services:
  db:
    image: x
  web:
    image: web
    {line}
networks:
  a: {{}}
  b: {{}}
"""


def refused(tmp_path: Path, compose_text: str) -> str:
    root = write_project(tmp_path, {
        "exercises/shop/exercise.yml": "doc: d\nsteps:\n  app:\n    compose: docker-compose.yml\n",
        "exercises/shop/docker-compose.yml": compose_text,
        "exercises/shop/Dockerfile": "FROM scratch\n",
        "exercises/shop/seed/a.txt": "a\n",
        "exercises/other/exercise.yml": "doc: d\nsteps:\n  s: {sh: 'true'}\n"}, CONFIG)
    good, broken, _ = project.load_isolated(load_config(root))
    assert [e.name for e in good] == ["other"]  # the other exercise keeps working
    return str(broken["shop"])


@pytest.mark.parametrize("line, key, words", REFUSED, ids=[r[1] + ":" + r[0][:20]
                                                             for r in REFUSED])
def test_a_refused_key_is_an_error_at_its_line(tmp_path, line, key, words):
    text = BASE_COMPOSE.format(line=line)
    message = refused(tmp_path, text)
    file = tmp_path.resolve() / "exercises" / "shop" / "docker-compose.yml"
    number = 6 + (1 if "\n" in line and key.endswith(("container_name",)) else 0)
    assert message.startswith(f"{file}:{number} (key '{key}'): "), message
    assert words in message, message
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("top, key, words", TOP_REFUSED, ids=[r[1] for r in TOP_REFUSED])
def test_a_refused_top_level_key_is_an_error_at_its_line(tmp_path, top, key, words):
    text = "services:\n  db:\n    image: x\n" + top
    message = refused(tmp_path, text)
    file = tmp_path.resolve() / "exercises" / "shop" / "docker-compose.yml"
    number = 4 + (1 if "." in key else 0)
    assert message.startswith(f"{file}:{number} (key '{key}'): "), message
    assert words in message, message
    assert "\n" not in message


def test_a_service_named_like_a_section_gets_the_keys_reason(tmp_path):
    message = refused(tmp_path, "services:\n  build:\n    image: x\n    privileged: true\n")
    assert ":4 (key 'services.build.privileged'): 'privileged' is not supported: the " \
        "project runs every container unprivileged." in message


def test_a_bad_image_reference(tmp_path):
    message = refused(tmp_path, "services:\n  web:\n    image: 'UPPER/Case'\n")
    assert ":3 (key 'services.web.image'): 'UPPER/Case' is not a valid image reference" \
        in message


def test_a_one_shot_run_has_no_ports(tmp_path):
    text = "services:\n  t:\n    image: x\n    ports: ['8080:80']\n"
    root = write_project(tmp_path, {
        "exercises/shop/exercise.yml": "doc: d\nsteps:\n  app:\n    compose: "
                                       "docker-compose.yml\n    runs: [t]\n",
        "exercises/shop/docker-compose.yml": text}, CONFIG)
    message = str(spec_error(root))
    assert ":4 (key 'services.t.ports'): 't' runs once" in message


@pytest.mark.parametrize("step, key, words", [
    ("compose: docker-compose.yml\n    variables: {BASE: b, PORT: '1'}\n    runs: [nobody]",
     "runs",
     "no service of"),
    ("compose: ../elsewhere.yml", "compose", "leads outside the exercise folder"),
    ("compose: missing.yml", "compose", "no compose file"),
    ("compose: docker-compose.yml\n    variables: {}", "compose",
     "${BASE} has no value"),
])
def test_errors_of_the_step_itself(tmp_path, step, key, words):
    root = write_project(tmp_path, {**FILES, "exercises/shop/exercise.yml":
                                    f"doc: d\nsteps:\n  app:\n    {step}\n"}, CONFIG)
    message = str(spec_error(root))
    assert words in message, message
    if key != "compose" or "variables" not in step:
        spec = tmp_path.resolve() / "exercises" / "shop" / "exercise.yml"
        assert message.startswith(f"{spec}:"), message
    else:  # the variable is missing where the compose file uses it
        assert message.startswith(f"{tmp_path.resolve()}/exercises/shop/docker-compose.yml:7 "
                                  "(key 'services.db.build.args.BASE_IMAGE')"), message


def test_an_error_found_across_exercises_sets_the_right_one_aside(tmp_path):
    """A cycle through a compose file in a subfolder: the exercise that holds it is set
    aside (the file's parent folder is not the exercise's name), and nothing hangs."""
    root = write_project(tmp_path, {
        "exercises/a/exercise.yml": "doc: d\nsteps:\n  app:\n    compose: stack/compose.yml\n",
        "exercises/a/stack/compose.yml": "services:\n  web:\n    build: .\n",
        "exercises/a/stack/Dockerfile": "FROM b-image\n",
        "exercises/b/exercise.yml": "doc: d\nsteps:\n  img:\n    build: .\n    tag: b-image\n"
                                    "    after: ['a:app.web']\n",
        "exercises/b/Dockerfile": "FROM scratch\n",
        "exercises/c/exercise.yml": "doc: d\nsteps:\n  s: {sh: 'true'}\n"}, CONFIG)
    good, broken, _ = project.load_isolated(load_config(root))
    assert "cycle" in str(broken["a"])
    assert str(broken["a"]).startswith(f"{root.resolve()}/exercises/a/stack/compose.yml:")
    assert "names 'a:app.web', but the exercise a is broken itself" in str(broken["b"])
    assert [e.name for e in good] == ["c"]


def test_an_edited_env_file_is_read_again(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_mod, "RACY_NS", 0)
    root = write_project(tmp_path, FILES, CONFIG)
    env = root / "exercises/shop/web.env"

    def web_env() -> str:
        good, _, _ = project.load_isolated(load_config(root))
        return dict(next(e for e in good if e.name == "shop").steps["app.web"].env)["DB_URL"]

    assert web_env() == "http://database:8081"
    assert web_env() == "http://database:8081"  # from the cache
    st = env.stat()
    env.write_text(env.read_text().replace("database", "elsewhr"))  # same size
    os.utime(env, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert web_env() == "http://elsewhr:8081"
