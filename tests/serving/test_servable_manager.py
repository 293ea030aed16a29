"""The servable manager alone, with a stand-in for SavedModel loading (no TensorFlow model, no
server): which versions a policy serves, when a version is swapped in or retired, what a
broken version leaves in status, retries, labels, config reloads and the lookups' messages,
as TF Serving's AspiredVersionsManager and ServerCore behave."""

from __future__ import annotations

import os
import shutil
import types

import pytest
from tensorflow_serving.config import model_server_config_pb2

from serving import model_config
from serving.errors import (
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    ResourceExhaustedError,
    ServingError,
)
from serving.manager import LoadEvent, ServableManager, VersionState
from serving.servable import Servable


class Loader:
    """Stands in for `Servable.load`: versions in `broken` fail with their exception."""

    def __init__(self) -> None:
        self.broken: dict[int, Exception] = {}
        self.calls: list[tuple[str, int]] = []

    def __call__(self, name, version, path, tags=("serve",)):
        self.calls.append((name, version))
        if version in self.broken:
            raise self.broken[version]
        return types.SimpleNamespace(name=name, version=version, path=path, tags=tuple(tags))


@pytest.fixture
def loader(monkeypatch):
    loader = Loader()
    monkeypatch.setattr(Servable, "load", loader)
    return loader


def base_with(tmp_path, *versions: int, name: str = "m") -> str:
    base = tmp_path / name
    for version in versions:
        (base / str(version)).mkdir(parents=True)
    return str(base)


def config_of(models: dict[str, str], policy: str = "", labels: str = ""):
    config = model_server_config_pb2.ModelServerConfig()
    for name, base in models.items():
        model = config.model_config_list.config.add(name=name, base_path=base)
        if policy:
            getattr(model.model_version_policy, policy.split(":")[0]).SetInParent()
            if policy.startswith("specific"):
                model.model_version_policy.specific.versions.extend(
                    int(v) for v in policy.split(":")[1].split(",")
                )
            elif ":" in policy:
                model.model_version_policy.latest.num_versions = int(policy.split(":")[1])
    if labels:
        for model in config.model_config_list.config:
            for item in labels.split(","):
                label, version = item.split("=")
                model.version_labels[label] = int(version)
    return config


def manager_of(base: str, policy: str = "", labels: str = "", **kwargs) -> ServableManager:
    return ServableManager(config_of({"m": base}, policy, labels), **kwargs)


def states(manager: ServableManager, name: str = "m") -> list[tuple[int, str]]:
    return [(s.version, s.state) for s in manager.version_states(name)]


@pytest.mark.parametrize(
    ("policy", "served"),
    [
        ("", [3]),
        ("latest", [3]),
        ("latest:2", [2, 3]),
        ("all", [1, 2, 3]),
        ("specific:1,3", [1, 3]),
    ],
)
def test_the_version_policy_picks_what_is_served(tmp_path, loader, policy, served):
    manager = manager_of(base_with(tmp_path, 1, 2, 3), policy)
    manager.load()
    assert manager.loaded_versions("m") == served
    assert [c[1] for c in loader.calls] == served
    assert manager.get("m").version == served[-1]
    assert all(manager.get("m", v).version == v for v in served)
    assert states(manager) == [(v, "AVAILABLE") for v in served]
    assert manager.is_ready("m")


def test_a_new_version_is_served_and_the_old_one_retired_at_the_next_poll(tmp_path, loader, capfd):
    events, changes = [], []
    base = base_with(tmp_path, 1)
    manager = manager_of(base, on_event=events.append, on_change=lambda: changes.append(1))
    manager.load()
    loaded = manager.get("m")
    os.mkdir(os.path.join(base, "2"))
    manager.poll()
    assert manager.get("m").version == 2 and manager.loaded_versions("m") == [2]
    assert states(manager) == [(1, "END"), (2, "AVAILABLE")]
    assert [(e.version, e.kind, e.code) for e in events] == [
        (1, "load", "OK"),
        (2, "load", "OK"),
        (1, "unload", "OK"),
    ]
    assert all(isinstance(e, LoadEvent) and e.model == "m" and e.seconds >= 0 for e in events)
    assert len(changes) >= 3  # LOADING, AVAILABLE, and the retirement were each published
    assert loaded.version == 1  # a request holding the old version still has it
    log = capfd.readouterr().err
    assert "Successfully loaded servable version 2 of model m" in log
    assert "Unloading servable version 1 of model m" in log
    assert "No versions of servable" not in log  # said only when there is nothing to serve
    manager.poll()
    assert len(loader.calls) == 2  # nothing new: nothing loaded again


def test_a_version_whose_directory_is_gone_is_unloaded(tmp_path, loader):
    base = base_with(tmp_path, 1, 2)
    manager = manager_of(base, "all")
    manager.load()
    shutil.rmtree(os.path.join(base, "2"))
    manager.poll()
    assert manager.loaded_versions("m") == [1] and manager.get("m").version == 1
    shutil.rmtree(os.path.join(base, "1"))
    manager.poll()
    assert manager.loaded_versions("m") == [] and not manager.is_ready("m")
    with pytest.raises(NotFoundError, match=r"Servable not found for request: Latest\(m\)$"):
        manager.get("m")
    assert states(manager) == [(1, "END"), (2, "END")]


def test_a_version_that_fails_to_load_never_replaces_the_served_one(tmp_path, loader):
    base = base_with(tmp_path, 1)
    manager = manager_of(base)
    manager.load()
    os.mkdir(os.path.join(base, "2"))
    loader.broken[2] = ResourceExhaustedError(f"no memory for {base}/2/variables")
    manager.poll()  # polling records the failure, it does not raise
    assert manager.get("m").version == 1
    (one, two) = manager.version_states("m")
    assert one == VersionState(1, "AVAILABLE")
    assert two == VersionState(
        2, "END", "RESOURCE_EXHAUSTED", "no memory for <base path of m>/2/variables"
    )


def test_a_failed_load_raises_with_where_and_why_when_strict(tmp_path, loader, capfd):
    base = base_with(tmp_path, 1, 2)
    loader.broken[2] = ResourceExhaustedError("no memory")
    manager = manager_of(base, "all")
    with pytest.raises(ServingError) as caught:
        manager.load()
    assert caught.value.code == "RESOURCE_EXHAUSTED"
    assert caught.value.message == (
        f"Failed to load servable version 2 of model m from {base}/2: no memory"
    )
    assert caught.value.message in capfd.readouterr().err  # the log keeps the path
    assert manager.loaded_versions("m") == [1]  # what loaded stays loaded
    # Not all wanted versions serve, so none is retired for the policy's sake either.
    assert states(manager) == [(1, "AVAILABLE"), (2, "END")]


def test_an_unexpected_load_failure_is_an_internal_error_and_logged(tmp_path, loader, capfd):
    base = base_with(tmp_path, 1)
    loader.broken[1] = OSError(f"disk gone at {base}")
    manager = manager_of(base)
    with pytest.raises(ServingError) as caught:
        manager.load()
    assert caught.value.code == InternalError.code
    assert caught.value.message.endswith(": Internal error while loading (see the server log)")
    assert "Loading version 1 of model m: OSError: disk gone" in capfd.readouterr().err
    assert manager.version_states("m") == [
        VersionState(1, "END", "INTERNAL", "Internal error while loading (see the server log)")
    ]


def test_a_base_path_through_a_link_or_with_a_slash_is_kept_out_of_status(tmp_path, loader):
    real = base_with(tmp_path, 1, name="real")
    link = tmp_path / "link"
    link.symlink_to(real)
    loader.broken[1] = ResourceExhaustedError(f"at {real}/1 and {link}/1")
    manager = manager_of(f"{link}/")
    manager.poll()
    (state,) = manager.version_states("m")
    assert state.error_message == "at <base path of m>/1 and <base path of m>/1"


def test_warm_up_runs_before_a_version_serves_and_can_fail_its_load(tmp_path, loader):
    seen = []

    def prepare(servable):
        seen.append(servable.version)
        if servable.version == 2:
            raise InvalidArgumentError("warm-up request does not fit")

    base = base_with(tmp_path, 1)
    manager = manager_of(base, prepare=prepare)
    manager.load()
    assert seen == [1] and manager.get("m").version == 1
    os.mkdir(os.path.join(base, "2"))
    manager.poll()
    assert seen == [1, 2] and manager.get("m").version == 1
    assert manager.version_states("m", 2)[0].error_code == "INVALID_ARGUMENT"


def test_a_failed_version_is_retried_at_most_the_retry_count_after_the_interval(tmp_path, loader):
    base = base_with(tmp_path, 1)
    loader.broken[1] = ResourceExhaustedError("no memory")
    manager = manager_of(base, max_num_load_retries=2, load_retry_interval_s=0.0)
    for _ in range(6):
        manager.poll()
    assert len(loader.calls) == 3  # the first try and two retries
    # A new directory under the same version number is a new servable: tried again.
    shutil.rmtree(os.path.join(base, "1"))
    manager.poll()
    os.mkdir(os.path.join(base, "1"))
    del loader.broken[1]
    manager.poll()
    assert len(loader.calls) == 3  # same path: still given up on
    slow = manager_of(base_with(tmp_path, 4, name="slow"), load_retry_interval_s=3600.0)
    loader.broken[4] = ResourceExhaustedError("no memory")
    for _ in range(3):
        slow.poll()
    assert [c for c in loader.calls if c[0] == "m"][3:] == [("m", 4)]  # not before an hour


def test_a_retry_that_succeeds_clears_the_failure(tmp_path, loader):
    base = base_with(tmp_path, 1)
    loader.broken[1] = ResourceExhaustedError("no memory")
    manager = manager_of(base, max_num_load_retries=1, load_retry_interval_s=0.0)
    manager.poll()
    del loader.broken[1]
    manager.poll()
    assert manager.get("m").version == 1
    assert states(manager) == [(1, "AVAILABLE")]
    # Removed and back at the same path: a fresh load with a fresh retry count.
    shutil.rmtree(os.path.join(base, "1"))
    manager.poll()
    os.mkdir(os.path.join(base, "1"))
    loader.broken[1] = ResourceExhaustedError("no memory")
    manager.poll()
    manager.poll()
    assert len(loader.calls) == 4


def test_labels_route_to_their_version_and_refuse_what_they_cannot(tmp_path, loader):
    manager = manager_of(base_with(tmp_path, 1, 2), "all", "stable=1,canary=2")
    manager.load()
    assert manager.get("m", label="stable").version == 1
    assert manager.get("m", label="canary").version == 2
    with pytest.raises(InvalidArgumentError, match="Unrecognized servable version label: beta$"):
        manager.get("m", label="beta")
    with pytest.raises(InvalidArgumentError, match="Unrecognized servable version label: stable"):
        manager.get("other", label="stable")
    with pytest.raises(
        InvalidArgumentError,
        match=r"Both model version \(1\) and model version label \(stable\) cannot be supplied",
    ):
        manager.get("m", 1, "stable")
    with pytest.raises(NotFoundError, match=r"Servable not found for request: Specific\(m, 7\)$"):
        manager.get("m", 7)
    with pytest.raises(NotFoundError, match=r"Servable not found for request: Specific\(n, 1\)$"):
        manager.get("n", 1)
    with pytest.raises(NotFoundError, match=r"Servable not found for request: Latest\(n\)$"):
        manager.get("n")


def test_a_label_on_an_unavailable_version_fails_the_load_unless_allowed(tmp_path, loader, capfd):
    base = base_with(tmp_path, 1, 2)
    message = (
        "Request to assign label to version 1 of model m, which is not currently available "
        "for inference"
    )
    strict = manager_of(base, labels="stable=1")
    with pytest.raises(FailedPreconditionError, match=message):
        strict.load()
    assert strict.loaded_versions("m") == [2]
    polled = manager_of(base, labels="stable=1,canary=2")
    polled.poll()
    assert message in capfd.readouterr().err
    assert polled.get("m", label="canary").version == 2
    with pytest.raises(InvalidArgumentError, match="label: stable"):
        polled.get("m", label="stable")
    allowed = manager_of(base, labels="stable=1", allow_version_labels_for_unavailable_models=True)
    allowed.load()
    with pytest.raises(NotFoundError, match=r"Specific\(m, 1\)"):
        allowed.get("m", label="stable")


def test_reloading_the_config_unloads_unlisted_models_and_loads_new_ones(tmp_path, loader, capfd):
    a, b = base_with(tmp_path, 1, name="a"), base_with(tmp_path, 5, name="b")
    events = []
    manager = ServableManager(config_of({"a": a}), on_event=events.append)
    manager.load()
    first = manager.config()
    assert manager.configured_names() == {"a"}
    assert manager.configured_names() is manager.configured_names()  # cached per config
    manager.reload_config(config_of({"b": b}))
    assert manager.config() is not first and manager.configured_names() == {"b"}
    assert manager.get("b").version == 5 and manager.model_names() == ["a", "b"]
    assert not manager.is_ready("a") and manager.loaded_versions("a") == []
    assert states(manager, "a") == [(1, "END")]  # status keeps the END row
    assert "Unloading model a: no longer in the model config" in capfd.readouterr().err
    assert [(e.model, e.version, e.kind) for e in events] == [
        ("a", 1, "load"),
        ("a", 1, "unload"),
        ("b", 5, "load"),
    ]
    assert events[1].seconds == 0.0  # an unload has no duration to report
    with pytest.raises(InvalidArgumentError, match="with a model_config_list. Received: an empty"):
        manager.reload_config(model_server_config_pb2.ModelServerConfig())
    duplicate = config_of({"b": b})
    duplicate.model_config_list.config.add(name="b", base_path=b)
    with pytest.raises(InvalidArgumentError, match=r"unique model names. Received: 'b' twice"):
        manager.reload_config(duplicate)
    assert manager.configured_names() == {"b"}


def test_a_new_model_that_cannot_load_fails_the_reload_but_others_load(tmp_path, loader):
    a, b = base_with(tmp_path, 1, name="a"), base_with(tmp_path, 2, name="b")
    c = base_with(tmp_path, 3, name="c")
    loader.broken[2] = ResourceExhaustedError("no memory")
    manager = ServableManager(config_of({"a": a}))
    manager.load()
    with pytest.raises(ServingError, match="version 2 of model b"):
        manager.reload_config(config_of({"a": a, "b": b, "c": c}))
    assert manager.get("a").version == 1 and manager.get("c").version == 3


def test_the_first_of_several_load_errors_is_raised(tmp_path, loader):
    a, b = base_with(tmp_path, 1, name="a"), base_with(tmp_path, 2, name="b")
    loader.broken[1] = ResourceExhaustedError("first")
    loader.broken[2] = FailedPreconditionError("second")
    with pytest.raises(ServingError, match="first$"):
        ServableManager(config_of({"a": a, "b": b})).load()


def test_a_base_path_that_cannot_be_listed_keeps_what_is_served(tmp_path, loader, capfd):
    base = base_with(tmp_path, 1)
    manager = manager_of(base)
    manager.load()
    os.rename(base, base + ".moved")
    manager.poll()
    assert manager.get("m").version == 1
    assert "keeping its 1 loaded version(s)" in capfd.readouterr().err
    missing = manager_of(str(tmp_path / "nowhere"))
    missing.load()  # not an error: it is looked for again at the next poll
    assert missing.model_names() == ["m"] and not missing.is_ready("m")
    with pytest.raises(NotFoundError, match="Could not find any versions of model m$"):
        missing.version_states("m")


def test_a_base_path_without_versions_is_logged_and_serves_nothing(tmp_path, loader, capfd):
    manager = manager_of(base_with(tmp_path))
    os.makedirs(tmp_path / "m", exist_ok=True)
    manager.load()
    assert f"No versions of servable m found under base path {tmp_path / 'm'}" in (
        capfd.readouterr().err
    )
    assert manager.model_names() == ["m"] and manager.loaded_versions("m") == []


def test_status_rows_of_one_version_or_all(tmp_path, loader):
    manager = manager_of(base_with(tmp_path, 3, 1, 2), "all")
    manager.load()
    assert [s.version for s in manager.version_states("m")] == [1, 2, 3]
    assert manager.version_states("m", 2) == [VersionState(2, "AVAILABLE")]
    with pytest.raises(NotFoundError, match="Could not find version 4 of model m$"):
        manager.version_states("m", 4)
    with pytest.raises(NotFoundError, match="Could not find version 1 of model x$"):
        manager.version_states("x", 1)
    with pytest.raises(NotFoundError, match="Could not find any versions of model x$"):
        manager.version_states("x")
    assert manager.loaded_versions("x") == [] and not manager.is_ready("x")


def test_a_config_the_server_cannot_honour_is_refused_at_construction():
    with pytest.raises(ValueError, match="model_config_list"):
        ServableManager(model_server_config_pb2.ModelServerConfig())
    assert model_config.single_model_config("m", "/x").model_config_list.config[0].name == "m"


def test_the_real_servers_retry_defaults_five_retries_a_minute_apart(tmp_path, loader, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("serving.manager.time.monotonic", lambda: now[0])
    loader.broken[1] = ResourceExhaustedError("no memory")
    manager = manager_of(base_with(tmp_path, 1))
    manager.poll()
    now[0] += 59.0
    manager.poll()
    assert len(loader.calls) == 1  # not within the minute
    now[0] += 1.0
    manager.poll()
    assert len(loader.calls) == 2  # a minute after the last try
    for _ in range(10):
        now[0] += 60.0
        manager.poll()
    assert len(loader.calls) == 6  # the first try and five retries


def test_a_version_is_loading_in_status_and_not_served_until_warmed_up(tmp_path, loader):
    seen = []

    def prepare(servable):
        seen.append(manager.version_states("m", servable.version)[0].state)
        seen.append(manager.loaded_versions("m"))

    base = base_with(tmp_path, 1)
    manager = manager_of(base, prepare=prepare)
    manager.load()
    os.mkdir(os.path.join(base, "2"))
    manager.poll()
    assert seen == ["LOADING", [], "LOADING", [1]]
    # Versions loading together: each serves as soon as it is ready, not when all are.
    seen.clear()
    manager = manager_of(base_with(tmp_path, 1, 2, name="both"), "all", prepare=prepare)
    manager.load()
    assert seen == ["LOADING", [], "LOADING", [1]]


def test_load_events_say_how_long_the_load_took(tmp_path, loader):
    events = []
    loader.broken[2] = ResourceExhaustedError("no memory")
    base = base_with(tmp_path, 1, 2)
    manager = manager_of(base, "all", on_event=events.append)
    manager.poll()
    shutil.rmtree(os.path.join(base, "1"))
    manager.poll()
    assert [(e.version, e.kind, e.code) for e in events] == [
        (1, "load", "OK"),
        (2, "load", "RESOURCE_EXHAUSTED"),
        (1, "unload", "OK"),
    ]
    assert all(0 <= e.seconds < 60 for e in events)
    assert events[2].seconds == 0.0  # an unload has no duration to report


def test_a_model_moved_to_another_base_path_is_loaded_from_there(tmp_path, loader):
    old, new = base_with(tmp_path, 1, name="old"), base_with(tmp_path, 1, name="new")
    manager = manager_of(old)
    manager.load()
    manager.reload_config(config_of({"m": new}))
    assert manager.get("m").path == os.path.join(new, "1")
    assert loader.calls == [("m", 1), ("m", 1)]


def test_a_short_relative_base_path_is_hidden_but_one_letter_is_not(tmp_path, loader, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base_with(tmp_path, 1, name="md")
    loader.broken[1] = ResourceExhaustedError("cannot map md/1 into memory")
    manager = manager_of("md")
    manager.poll()
    assert manager.version_states("m")[0].error_message == (
        "cannot map <base path of m>/1 into memory"
    )
    base_with(tmp_path, 1, name="q")
    loader.broken[1] = ResourceExhaustedError(f"quota: {tmp_path}/q/1")
    one_letter = manager_of("q")
    one_letter.poll()  # its full path is hidden, but not every letter q of the message
    assert one_letter.version_states("m")[0].error_message == "quota: <base path of m>/1"
