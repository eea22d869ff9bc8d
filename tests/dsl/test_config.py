"""The project config: precedence, variable references, built-ins, the local registry."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.dsl import config
from tasks.errors import SpecError, Where


def write_config(root: Path, text: str) -> Path:
    (root / config.CONFIG_FILE).write_text(text)
    return root


def config_error(root: Path, **kwargs) -> SpecError:
    with pytest.raises(SpecError) as info:
        config.load(root, environ=kwargs.pop("environ", {}), **kwargs)
    return info.value


BASIC = "variables:\n  registry: 127.0.0.1:5000\n  hub_user: from_file\n"


# --- precedence: file < environment < command line ---------------------------------------

def test_file_value_when_nothing_overrides(tmp_path):
    cfg = config.load(write_config(tmp_path, BASIC), environ={})
    assert cfg.variables["hub_user"] == "from_file"


def test_environment_beats_file(tmp_path):
    cfg = config.load(write_config(tmp_path, BASIC), environ={"AC295_HUB_USER": "from_env"})
    assert cfg.variables["hub_user"] == "from_env"


def test_command_line_beats_environment(tmp_path):
    cfg = config.load(write_config(tmp_path, BASIC), environ={"AC295_HUB_USER": "from_env"},
                      cmdline=lambda name: "from_cmd" if name == "hub_user" else None)
    assert cfg.variables["hub_user"] == "from_cmd"
    # A name the command line does not give keeps its file value.
    assert cfg.variables["registry"] == "127.0.0.1:5000"


def test_environment_without_prefix_is_ignored(tmp_path):
    cfg = config.load(write_config(tmp_path, BASIC), environ={"HUB_USER": "nope"})
    assert cfg.variables["hub_user"] == "from_file"


def test_override_feeds_references(tmp_path):
    write_config(tmp_path, BASIC + '  image: "{registry}/{hub_user}/app"\n')
    cfg = config.load(tmp_path, environ={"AC295_REGISTRY": "registry.example.com"},
                      cmdline=lambda name: "maggie" if name == "hub_user" else None)
    assert cfg.variables["image"] == "registry.example.com/maggie/app"


# --- references ----------------------------------------------------------------------------

def test_nested_references_are_resolved(tmp_path):
    write_config(tmp_path, BASIC + '  c: "{b}:tag"\n  b: "{a}/b"\n  a: "{registry}/a"\n'
                 '  cache: "{state}/cache"\n  literal: "{{not a ref}}"\n')
    cfg = config.load(tmp_path, environ={})
    assert cfg.variables["c"] == "127.0.0.1:5000/a/b:tag"
    assert cfg.variables["cache"] == f"{tmp_path.resolve()}/.ac295/cache"
    assert cfg.variables["literal"] == "{not a ref}"


def test_numbers_become_strings(tmp_path):
    cfg = config.load(write_config(tmp_path, BASIC + "  port: 8082\n"), environ={})
    assert cfg.variables["port"] == "8082"


@pytest.mark.parametrize("extra", ['  a: "{b}"\n  b: "{a}"\n', '  a: "x{a}"\n'])
def test_circular_references(tmp_path, extra):
    err = config_error(write_config(tmp_path, BASIC + extra))
    assert "circle" in str(err)
    assert err.where.key in ("variables.a", "variables.b")
    assert err.where.line in (4, 5)
    assert "a -> " in str(err) or "b -> " in str(err)


def test_unknown_reference_suggests(tmp_path):
    err = config_error(write_config(tmp_path, BASIC + '  image: "{hub_usr}/x"\n'))
    assert (err.where.key, err.where.line) == ("variables.image", 4)
    assert "Did you mean 'hub_user'?" in str(err)


@pytest.mark.parametrize("value", [
    '"{a.b}"',
    '"{oops"',
    '"x{}"',
])
def test_malformed_references(tmp_path, value):
    err = config_error(write_config(tmp_path, BASIC + f"  bad: {value}\n"))
    assert err.where.key == "variables.bad"
    assert "{{" in str(err)  # the hint on literal braces


# --- built-ins and shape -----------------------------------------------------------------

@pytest.mark.parametrize("name", config.BUILTINS)
def test_builtins_cannot_be_set(tmp_path, name):
    err = config_error(write_config(tmp_path, BASIC + f"  {name}: /elsewhere\n"))
    assert (err.where.key, err.where.line) == (f"variables.{name}", 4)
    assert "built in" in str(err)


def test_builtins_values(tmp_path):
    cfg = config.load(write_config(tmp_path, "state_dir: st\n" + BASIC), environ={})
    assert cfg.root == tmp_path.resolve()
    assert cfg.state == tmp_path.resolve() / "st"
    assert cfg.variables["state"] == str(cfg.state)
    assert cfg.variables["root"] == str(cfg.root)


def test_state_dir_from_environment(tmp_path):
    cfg = config.load(write_config(tmp_path, "state_dir: st\n" + BASIC),
                      environ={"AC295_STATE_DIR": "other"})
    assert cfg.state == tmp_path.resolve() / "other"


def test_unknown_top_level_key(tmp_path):
    err = config_error(write_config(tmp_path, "state_dri: x\n" + BASIC))
    assert (err.where.key, err.where.line) == ("state_dri", 1)
    assert "Did you mean 'state_dir'?" in str(err)


@pytest.mark.parametrize("value", ["[a, b]", "{x: 1}", "true"])
def test_variable_of_wrong_type(tmp_path, value):
    err = config_error(write_config(tmp_path, BASIC + f"  bad: {value}\n"))
    assert (err.where.key, err.where.line) == ("variables.bad", 4)
    assert "must be a string" in str(err)


def test_registry_is_required(tmp_path):
    err = config_error(write_config(tmp_path, "variables:\n  hub_user: x\n"))
    assert "'registry' must be set" in str(err)


def test_missing_file_means_no_registry(tmp_path):
    assert "'registry'" in str(config_error(tmp_path))


# --- the local registry ------------------------------------------------------------------

@pytest.mark.parametrize("registry, port", [
    ("127.0.0.1:5000", 5000),
    ("127.0.0.1:5123", 5123),
    ("localhost", 5000),
    ("localhost:5001", 5001),
    ("registry.example.com", None),
    ("registry.example.com:5000", None),
    ("10.0.0.5:5000", None),
    ("docker.io", None),
])
def test_local_registry_port(registry, port):
    cfg = config.Config(root=Path("/p"), state=Path("/p/.ac295"),
                        variables={"registry": registry})
    assert cfg.local_registry_port == port
    assert cfg.registry == registry


# --- expand (used by the spec loader) -----------------------------------------------------

def test_expand():
    where = Where(Path("x.yml"), 3, "steps.s.tag")
    assert config.expand("{a}/{b}:{{x}}", {"a": "1", "b": "2"}, where) == "1/2:{x}"
    with pytest.raises(SpecError) as info:
        config.expand("{c}", {"a": "1"}, where)
    assert info.value.where == where and "unknown variable '{c}'" in str(info.value)
    with pytest.raises(SpecError, match="empty"):
        config.expand("x{}", {"a": "1"}, where)


@pytest.mark.parametrize("value, message", [
    ("127.0.0.1", "needs a port"),
    ("localhost", "needs a port"),
    ("127.0.0.1:abc", "is not a registry host[:port]"),
    ("127.0.0.1:5000/me", "is not a registry host[:port]"),
])
def test_bad_registry_values(tmp_path, value, message):
    err = config_error(write_config(tmp_path, BASIC), environ={"AC295_REGISTRY": value})
    assert err.where.key == "variables.registry" and message in str(err)


def test_remote_engine_with_loopback_registry_is_refused(tmp_path):
    from tasks import project
    (tmp_path / "exercises").mkdir()
    write_config(tmp_path, BASIC)
    with pytest.raises(project.Ac295Error, match="cannot reach"):
        project.load(tmp_path, environ={"DOCKER_HOST": "tcp://10.1.2.3:2375"})
    doit_config, _ = project.load(tmp_path, environ={"DOCKER_HOST": "unix:///var/run/docker.sock"})
    assert doit_config["backend"] == "sqlite3"


@pytest.mark.parametrize("value, reuse", [("yes", True), ("no", False), ("off", False)])
def test_reuse(tmp_path, value, reuse):
    cfg = config.load(write_config(tmp_path, BASIC), environ={"AC295_REUSE": value})
    assert cfg.reuse is True  # not in the file: the environment cannot set it
    root = write_config(tmp_path, BASIC + f"  reuse: '{value}'\n")
    assert config.load(root, environ={}).reuse is reuse


def test_reuse_must_be_yes_or_no(tmp_path):
    err = config_error(write_config(tmp_path, BASIC + "  reuse: sometimes\n"))
    assert err.where.key == "variables.reuse" and "'sometimes'" in str(err)


# --- the builder and SOURCE_DATE_EPOCH --------------------------------------------------------

def test_the_builder_is_docker_unless_set(tmp_path):
    assert config.load(write_config(tmp_path, BASIC), environ={}).builder == "docker"
    root = write_config(tmp_path, BASIC + "  builder: docker\n")
    assert config.load(root, environ={}).builder == "docker"
    assert config.load(root, environ={"AC295_BUILDER": "buildah"}).builder == "buildah"
    assert config.load(root, environ={}, cmdline={"builder": "buildah"}.get).builder == "buildah"


def test_an_unknown_builder_names_its_file_line_and_key(tmp_path):
    err = config_error(write_config(tmp_path, BASIC + "  builder: kaniko\n"))
    assert err.where.key == "variables.builder" and err.where.line == 4
    assert "'kaniko'" in str(err) and "'buildah'" in str(err)
    err = config_error(write_config(tmp_path, BASIC + "  builder: docker\n"),
                       environ={"AC295_BUILDER": "Buildah"})
    assert "AC295_BUILDER" in str(err)


@pytest.mark.parametrize("value", ["soon", "-1", "1.5", "123456789012"])
def test_source_date_epoch_is_whole_seconds(tmp_path, value):
    err = config_error(write_config(tmp_path, BASIC + f"  source_date_epoch: '{value}'\n"))
    assert err.where.key == "variables.source_date_epoch" and f"'{value}'" in str(err)


def test_source_date_epoch(tmp_path):
    assert config.load(write_config(tmp_path, BASIC), environ={}).source_date_epoch == 0
    root = write_config(tmp_path, BASIC + "  source_date_epoch: '1686355200'\n")
    assert config.load(root, environ={}).source_date_epoch == 1686355200
