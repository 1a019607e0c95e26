"""The user configuration: discovery, defaults, the template, validation, secrets."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pickle
import shutil
import stat
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import semsl.config as cfg
from semsl.config import (
    DEFAULT_MAX_SUBARRAY_SIZE,
    MIN_PART_SIZE,
    Config,
    ConfigPermissionWarning,
    HostConfig,
    ResourceConfig,
    S3Options,
    config_from_dict,
    find_config_file,
    get_config,
    load_config,
    parse_size,
    set_config,
)
from semsl.errors import ConfigError, SemslWarning

TEMPLATE = Path(__file__).resolve().parents[1] / "user_config" / "semsl.json.template"
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYzzSECRET"
KEY_ID = "AKIAZZEXAMPLEKEYID42"
MiB = 1024**2
GiB = 1024**3

ENV_VARS = ("SEMSL_CONFIG", "SEMSL_MEMORY_BUDGET", "SEMSL_OPEN_FILES", "SEMSL_CACHE_DIR",
            "SEMSL_MAX_CONCURRENCY", "XDG_CACHE_HOME")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty home, no semsl variables, and the process-wide config restored after."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cfg, "_current", None)
    return home


def write(path: Path, data: Any, mode: int = 0o600) -> Path:
    text = data if isinstance(data, str) else json.dumps(data)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def valid() -> dict[str, Any]:
    """A valid configuration that holds credentials."""
    return {
        "hosts": {
            "cedaproj": {
                "endpoint_url": "https://cedaproj.s3.example.org",
                "access_key_id": KEY_ID,
                "secret_access_key": SECRET,
                "backend": "s3",
            }
        },
        "s3": {"max_part_size": "16MiB"},
        "resources": {"open_files": 8},
    }


# ------------------------------------------------------------------ defaults, discovery


def test_sizes_and_default_fragment_size_unchanged() -> None:
    assert DEFAULT_MAX_SUBARRAY_SIZE == 50_000_000
    assert parse_size("50MB") == 50_000_000
    assert parse_size("1GiB") == GiB
    assert parse_size(1024) == 1024
    with pytest.raises(ValueError, match="max_subarray_size"):
        parse_size("lots", what="max_subarray_size")


def test_defaults_without_a_file(clean_env: Path) -> None:
    config = load_config()
    assert config.source is None
    assert config.hosts == {}
    assert dict(config.fsspec) == {}
    assert config.allowed_roots == ()
    assert config.default_max_subarray_size == DEFAULT_MAX_SUBARRAY_SIZE
    assert config.s3 == S3Options()
    assert config.s3.max_part_size == 8 * MiB
    assert config.s3.multipart_threshold == 8 * MiB
    assert (config.s3.max_concurrency, config.s3.retries) == (16, 5)
    assert config.s3.multipart_upload
    assert config.s3.multipart_download
    assert (config.s3.connect_timeout, config.s3.read_timeout) == (10.0, 60.0)
    assert config.resources.open_files == 64
    assert config.resources.cache_dir == str(clean_env / ".cache" / "semsl")
    assert config.resources.memory_budget == cfg.default_memory_budget()


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert load_config().resources.cache_dir == str(tmp_path / "xdg" / "semsl")


@pytest.mark.parametrize(("memory", "budget"), [(None, GiB), (16 * GiB, 4 * GiB)])
def test_memory_budget_default(monkeypatch: pytest.MonkeyPatch, memory: int | None,
                               budget: int) -> None:
    monkeypatch.setattr(cfg, "_physical_memory", lambda: memory)
    assert ResourceConfig().memory_budget == budget


def test_home_file_is_found(clean_env: Path) -> None:
    path = write(clean_env / ".semsl.json", valid())
    assert find_config_file() == path
    config = load_config()
    assert config.source == str(path)
    assert config.hosts["cedaproj"].backend == "s3"


def test_semsl_config_wins_over_home(monkeypatch: pytest.MonkeyPatch, clean_env: Path,
                                     tmp_path: Path) -> None:
    write(clean_env / ".semsl.json", {"resources": {"open_files": 1}})
    named = write(tmp_path / "named.json", {"resources": {"open_files": 2}})
    monkeypatch.setenv("SEMSL_CONFIG", str(named))
    assert load_config().resources.open_files == 2
    # An explicit path wins over both.
    given_path = write(tmp_path / "given.json", {"resources": {"open_files": 3}})
    assert load_config(given_path).resources.open_files == 3


def test_environ_argument_replaces_os_environ(tmp_path: Path) -> None:
    named = write(tmp_path / "named.json", {"resources": {"open_files": 5}})
    config = load_config(environ={"SEMSL_CONFIG": str(named), "HOME": str(tmp_path)})
    assert config.resources.open_files == 5
    assert load_config(environ={"HOME": str(tmp_path)}).source is None


def test_missing_named_file_is_an_error(monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    monkeypatch.setenv("SEMSL_CONFIG", str(missing))
    with pytest.raises(ConfigError, match="SEMSL_CONFIG") as info:
        load_config()
    assert str(missing) in str(info.value)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(missing)


def test_empty_semsl_config_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMSL_CONFIG", "")
    assert load_config().source is None


# ------------------------------------------------------------------------ the template


def test_template_loads(tmp_path: Path) -> None:
    path = tmp_path / "semsl.json"
    shutil.copyfile(TEMPLATE, path)
    path.chmod(0o600)
    config = load_config(path)
    host = config.hosts["cedaproj"]
    assert host.backend == "s3_async"
    assert host.endpoint_url is not None
    assert host.has_credentials
    # Every option shown with its default.
    assert config.s3 == S3Options()
    assert config.allowed_roots == ()
    assert config.default_max_subarray_size == DEFAULT_MAX_SUBARRAY_SIZE
    assert config.resources.open_files == ResourceConfig().open_files


def test_template_documents_every_key() -> None:
    data = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    sections = {"": (data, Config), "s3": (data["s3"], S3Options),
                "resources": (data["resources"], ResourceConfig),
                "hosts.cedaproj": (data["hosts"]["cedaproj"], HostConfig)}
    skip = {"source", "alias"}
    for where, (section, cls) in sections.items():
        keys = {k for k in section if not k.startswith("_")}
        fields = {f.name for f in dataclasses.fields(cls) if f.name not in skip}
        assert keys == fields, where
        for key in keys:
            assert f"_{key}" in section, f"{where}.{key} has no '_{key}' comment"
    doc = " ".join(data["_doc"])
    for name in ENV_VARS[:5]:
        assert name in doc


# ----------------------------------------------------------------------- valid contents


def test_full_file(tmp_path: Path) -> None:
    data = valid()
    data["hosts"]["other"] = {"profile": "jasmin", "region": "uk", "api": "s3v2",
                              "addressing_style": "path"}
    data["s3"] = {"max_part_size": "16MiB", "multipart_threshold": 100 * MiB,
                  "max_concurrency": 4, "multipart_upload": False, "connect_timeout": 2.5,
                  "read_timeout": 30, "retries": 0}
    data["resources"] = {"memory_budget": "2GiB", "open_files": 8, "cache_dir": "cache"}
    data["fsspec"] = {"https": {"headers": {"User-Agent": "semsl"}}}
    data["allowed_roots"] = ["s3://cedaproj/bucket/", "/data/"]
    data["default_max_subarray_size"] = "1GB"
    config = load_config(write(tmp_path / "c.json", data))
    assert config.hosts["cedaproj"].endpoint_url == "https://cedaproj.s3.example.org"
    other = config.hosts["other"]
    assert (other.api, other.signature_version, other.profile) == ("S3v2", "s3", "jasmin")
    assert other.backend == "s3_async"
    assert config.s3.max_part_size == 16 * MiB
    assert config.s3.multipart_threshold == 100 * MiB
    assert config.s3.max_concurrency == 4
    assert not config.s3.multipart_upload
    assert config.s3.connect_timeout == 2.5
    assert config.s3.retries == 0
    assert config.resources.memory_budget == 2 * GiB
    assert config.resources.cache_dir == str(tmp_path / "cache")
    assert config.fsspec["https"]["headers"] == {"User-Agent": "semsl"}
    assert config.allowed_roots == ("s3://cedaproj/bucket/", "/data/")
    assert config.default_max_subarray_size == 10**9


def test_comments_ignored_at_every_level(tmp_path: Path) -> None:
    data = valid()
    data["_doc"] = ["anything", 1]
    data["hosts"]["_note"] = "not a host"
    data["hosts"]["cedaproj"]["_backend"] = "comment"
    data["s3"]["_max_part_size"] = {"nested": True}
    data["fsspec"] = {"_doc": "x", "https": {"_doc": "y", "block_size": 1}}
    config = load_config(write(tmp_path / "c.json", data))
    assert list(config.hosts) == ["cedaproj"]
    assert dict(config.fsspec["https"]) == {"block_size": 1}


def test_null_means_default(tmp_path: Path, clean_env: Path) -> None:
    data = {"s3": {"max_part_size": "6MiB", "multipart_threshold": None},
            "resources": {"memory_budget": None, "cache_dir": None}}
    config = load_config(write(tmp_path / "c.json", data))
    assert config.s3.multipart_threshold == 6 * MiB
    assert config.resources.cache_dir == str(clean_env / ".cache" / "semsl")


def test_home_in_cache_dir_is_expanded(tmp_path: Path, clean_env: Path) -> None:
    config = load_config(write(tmp_path / "c.json", {"resources": {"cache_dir": "~/c"}}))
    assert config.resources.cache_dir == str(clean_env / "c")


def test_config_from_dict_and_objects_are_read_only() -> None:
    config = config_from_dict(valid(), environ={"HOME": "/nowhere"})
    assert config.source is None
    with pytest.raises(TypeError):
        config.hosts["x"] = config.hosts["cedaproj"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.s3 = S3Options()  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(config)) == config
    assert copy.deepcopy(config) == config


# ------------------------------------------------------------------------ invalid files


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return data


INVALID = [
    # (key path, value, words expected in the message)
    ("hostz", {}, "did you mean 'hosts'"),
    ("hosts.cedaproj.secret_acess_key", SECRET, "unknown key"),
    ("hosts.cedaproj.password", SECRET, "unknown key"),
    ("s3.max_part_sise", "8MiB", "did you mean 'max_part_size'"),
    ("resources.memory", "1GiB", "unknown key"),
    ("hosts", ["cedaproj"], "expected a JSON object"),
    ("hosts.cedaproj", "https://x", "expected a JSON object"),
    ("s3", 5, "expected a JSON object"),
    ("fsspec", [], "expected a JSON object"),
    ("fsspec.https", "headers", "expected a JSON object"),
    ("s3.max_concurrency", "16", "expected an integer >= 1"),
    ("s3.max_concurrency", 0, "expected an integer >= 1"),
    ("s3.retries", -1, "expected an integer >= 0"),
    ("s3.multipart_upload", "yes", "expected true or false"),
    ("s3.connect_timeout", True, "seconds"),
    ("s3.read_timeout", -3, "positive"),
    ("resources.open_files", 1.5, "expected an integer"),
    ("resources.cache_dir", 7, "folder"),
    ("allowed_roots", "s3://cedaproj/", "list of URI prefixes"),
    ("allowed_roots", ["s3://a/", 3], "non-empty string"),
    ("hosts.cedaproj.region", 5, "non-empty string"),
    ("hosts.cedaproj.secret_access_key", 12345, "non-empty string"),
    ("s3.max_part_size", "8 MegaBytes", "expected a size"),
    ("resources.memory_budget", "-1GB", "expected a size"),
    ("default_max_subarray_size", "lots", "expected a size"),
    ("default_max_subarray_size", None, "expected a size"),
    ("s3.max_part_size", "4MiB", "5MiB"),
    ("s3.max_part_size", 5 * MiB - 1, "5MiB"),
    ("s3.max_part_size", "6GiB", "5GiB"),
    ("s3.multipart_threshold", "0.5B", "expected a size"),
    ("hosts.cedaproj.backend", "s4", "'s3', 's3_async'"),
    ("hosts.cedaproj.backend", SECRET, "'s3', 's3_async'"),
    ("hosts.cedaproj.api", "S3v5", "'S3v4', 'S3v2'"),
    ("hosts.cedaproj.addressing_style", "dns", "'path', 'virtual', 'auto'"),
    ("hosts.cedaproj.endpoint_url", "ftp://store", "http:// or https://"),
    ("hosts.cedaproj.endpoint_url", f"https://{KEY_ID}:{SECRET}@store", "credentials"),
    ("hosts.cedaproj.profile", "jasmin", "not both"),
    ("hosts.cedaproj.session_token", [SECRET], "non-empty string"),
    ("hosts.bad alias!", {}, "host alias"),
]


@pytest.mark.parametrize(("key", "value", "words"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_file_names_file_and_key(tmp_path: Path, key: str, value: Any,
                                         words: str) -> None:
    path = write(tmp_path / "bad.json", _set(valid(), key, value))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert f"'{key}'" in message
    assert words in message
    assert SECRET not in message
    assert KEY_ID not in message
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


@pytest.mark.parametrize(("host", "key"), [
    ({"access_key_id": KEY_ID}, "secret_access_key"),
    ({"secret_access_key": SECRET}, "access_key_id"),
    ({"session_token": SECRET}, "session_token"),
])
def test_incomplete_credentials(tmp_path: Path, host: dict[str, str], key: str) -> None:
    path = write(tmp_path / "bad.json", {"hosts": {"h": host}})
    with pytest.raises(ConfigError, match=f"'hosts.h.{key}'") as info:
        load_config(path)
    assert SECRET not in str(info.value)
    assert KEY_ID not in str(info.value)


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", "[1, 2]")
    with pytest.raises(ConfigError, match="top level") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_duplicate_key(tmp_path: Path) -> None:
    text = '{"s3": {"retries": 1, "retries": 2}, "_c": 1, "_c": 2}'
    with pytest.raises(ConfigError, match=r"'s3\.retries': appears more than once"):
        load_config(write(tmp_path / "dup.json", text))


def test_bad_json_names_file_line_and_column(tmp_path: Path) -> None:
    text = ('{\n  "hosts": {"cedaproj": {\n    "secret_access_key": "' + SECRET
            + '",\n    "access_key_id": "' + KEY_ID + '",\n  }}\n}\n')
    path = write(tmp_path / "bad.json", text)
    with pytest.raises(ConfigError, match="not valid JSON") as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 5, column 3" in message
    assert SECRET not in message
    assert KEY_ID not in message
    assert info.value.__context__ is None


def test_file_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(ConfigError, match="UTF-8") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_errors_without_a_file_say_configuration() -> None:
    with pytest.raises(ConfigError, match=r"^configuration: key 's3\.retries'"):
        config_from_dict({"s3": {"retries": "x"}})


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/+=",
                      min_size=1, max_size=40),
       where=st.sampled_from(["backend", "api", "addressing_style", "region_type"]))
def test_secret_never_in_message(tmp_path: Path, secret: str, where: str) -> None:
    # The secret also stands where a value is echoed (a misplaced credential).
    host: dict[str, Any] = {"access_key_id": "id" + secret, "secret_access_key": secret}
    if where == "region_type":
        host["region"] = [secret]
    else:
        host[where] = secret + "!"
    with pytest.raises(ConfigError) as info:
        config_from_dict({"hosts": {"h": host}}, source=tmp_path / "x.json")
    assert secret not in str(info.value).replace(str(tmp_path / "x.json"), "")


# ---------------------------------------------------------------------- direct objects


def test_direct_construction_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"S3Options\.max_part_size"):
        S3Options(max_part_size=MIN_PART_SIZE - 1)
    with pytest.raises(ConfigError, match=r"HostConfig\.backend"):
        HostConfig("h", backend="s4")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"HostConfig\.secret_access_key") as info:
        HostConfig("h", access_key_id=KEY_ID)
    assert KEY_ID not in str(info.value)
    with pytest.raises(ConfigError, match=r"Config\.hosts"):
        Config(hosts={"a": HostConfig("b")})
    assert S3Options(max_part_size="10MiB").max_part_size == 10 * MiB  # type: ignore[arg-type]


def test_secrets_hidden_in_str_and_repr(tmp_path: Path) -> None:
    data = valid()
    data["hosts"]["cedaproj"]["session_token"] = SECRET + "TOKEN"
    data["fsspec"] = {"s3": {"key": KEY_ID, "secret": SECRET, "anon": False}}
    config = load_config(write(tmp_path / "c.json", data))
    host = config.hosts["cedaproj"]
    assert host.secret_access_key == SECRET
    for obj in (config, host, config.fsspec):
        for text in (repr(obj), str(obj), f"{obj}"):
            assert SECRET not in text
            assert KEY_ID not in text
    assert "access_key_id='***'" in repr(host)
    assert "session_token='***'" in repr(host)
    assert "'secret': '***'" in repr(config)
    assert "'anon': False" in repr(config)
    assert config.holds_secrets


# ------------------------------------------------------------------------- permissions


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_permission_warning(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "c.json", valid(), mode)
    with pytest.warns(ConfigPermissionWarning, match="chmod 600") as record:
        load_config(path)
    assert str(path) in str(record[0].message)
    assert SECRET not in str(record[0].message)
    assert issubclass(ConfigPermissionWarning, SemslWarning)


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_permission_warning_for_fsspec_secrets(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", {"fsspec": {"s3": {"secret": SECRET}}}, 0o644)
    with pytest.warns(ConfigPermissionWarning):
        load_config(path)


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
@pytest.mark.parametrize(("data", "mode"), [
    (valid(), 0o600),
    (valid(), 0o400),
    ({"resources": {"open_files": 3}, "_secret_access_key": "a comment"}, 0o644),
    ({"hosts": {"p": {"profile": "jasmin"}}}, 0o644),
])
def test_no_permission_warning(tmp_path: Path, data: dict[str, Any], mode: int) -> None:
    path = write(tmp_path / "c.json", data, mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_config(path)
    assert stat.S_IMODE(path.stat().st_mode) == mode


# ----------------------------------------------------------------- environment overrides


def test_environment_overrides_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", valid())
    monkeypatch.setenv("SEMSL_MEMORY_BUDGET", "3GiB")
    monkeypatch.setenv("SEMSL_OPEN_FILES", "7")
    monkeypatch.setenv("SEMSL_CACHE_DIR", str(tmp_path / "envcache"))
    monkeypatch.setenv("SEMSL_MAX_CONCURRENCY", "32")
    for config in (load_config(path), load_config()):
        assert config.resources.memory_budget == 3 * GiB
        assert config.resources.open_files == 7
        assert config.resources.cache_dir == str(tmp_path / "envcache")
        assert config.s3.max_concurrency == 32
    assert load_config(path).hosts["cedaproj"].backend == "s3"


def test_empty_override_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMSL_OPEN_FILES", "")
    assert load_config().resources.open_files == 64


@pytest.mark.parametrize(("variable", "value", "words"), [
    ("SEMSL_MEMORY_BUDGET", "much", "expected a size"),
    ("SEMSL_OPEN_FILES", "many", "expected an integer"),
    ("SEMSL_OPEN_FILES", "0", "expected an integer >= 1"),
    ("SEMSL_MAX_CONCURRENCY", "-2", "expected an integer >= 1"),
])
def test_bad_override(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                      words: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"environment variable {variable}") as info:
        load_config()
    assert words in str(info.value)


# ------------------------------------------------------------------ process-wide config


def test_get_config_caches_and_reloads(clean_env: Path) -> None:
    first = get_config()
    assert get_config() is first
    write(clean_env / ".semsl.json", {"resources": {"open_files": 9}})
    assert get_config() is first
    assert get_config(reload=True).resources.open_files == 9


def test_set_config() -> None:
    mine = Config(allowed_roots=("/data/",))
    set_config(mine)
    assert get_config() is mine
    set_config(None)
    assert get_config().allowed_roots == ()
    with pytest.raises(TypeError):
        set_config({"allowed_roots": []})  # type: ignore[arg-type]
