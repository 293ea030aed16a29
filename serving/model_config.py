"""Which models and versions to serve: `--model_config_file`, or one model from the flags.

The config is TF Serving's own text-format `ModelServerConfig`, so the same file works with the
real `tensorflow_model_server`. Version directories are the int64-named children of a model's
base path; everything else there is ignored, as the real server does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from tensorflow_serving.config import file_system_storage_path_source_pb2, model_server_config_pb2

from serving._config_protos import read_text_proto

__all__ = [
    "list_versions",
    "read_versions",
    "read_model_server_config",
    "select_versions",
    "single_model_config",
    "validate_model_server_config",
]

_INT64_MAX = 2**63 - 1
_VersionPolicy = (
    file_system_storage_path_source_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy
)


def single_model_config(name: str, base_path: str) -> model_server_config_pb2.ModelServerConfig:
    """The config the real server builds from `--model_name` and `--model_base_path`."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = name
    model.base_path = base_path
    model.model_platform = "tensorflow"
    return config


def read_model_server_config(path: str) -> model_server_config_pb2.ModelServerConfig:
    """Parse a text-format ModelServerConfig file, with errors that name the file."""
    config = read_text_proto("model_config_file", path, model_server_config_pb2.ModelServerConfig())
    validate_model_server_config(config)
    return config


def validate_model_server_config(config: model_server_config_pb2.ModelServerConfig) -> None:
    """Reject configs this server cannot honour, before anything is loaded."""
    if config.WhichOneof("config") != "model_config_list":
        raise ValueError(
            "Expected a ModelServerConfig with a model_config_list. Received: "
            f"{config.WhichOneof('config') or 'an empty config'}"
        )
    seen = set()
    for model in config.model_config_list.config:
        if not model.name:
            raise ValueError(f"Expected every model config to have a name. Received: {model}")
        if model.name in seen:
            raise ValueError(f"Expected unique model names. Received: {model.name!r} twice")
        seen.add(model.name)
        if not model.base_path:
            raise ValueError(f"Expected a base_path for model {model.name!r}. Received none")
        if model.model_platform not in ("", "tensorflow"):
            raise ValueError(
                f"Expected model_platform 'tensorflow' for model {model.name!r}. "
                f"Received: {model.model_platform!r}"
            )


def list_versions(base_path: str) -> dict[int, str]:
    """`read_versions`, or {} where the base path cannot be listed (for a look, not a poll)."""
    try:
        return read_versions(base_path)
    except OSError:
        return {}


def read_versions(base_path: str) -> dict[int, str]:
    """Version number -> directory, for each child of `base_path` named by an int64.

    Raises OSError when the base path cannot be listed (missing, unreadable, out of file
    descriptors): that says nothing about which versions exist, so a poll must not take it
    for "no versions", as TF Serving's file-system source does not.
    """
    versions = {}
    with os.scandir(base_path) as entries:
        for entry in entries:
            name = entry.name
            if name.isdigit() and int(name) <= _INT64_MAX and entry.is_dir():
                versions[int(name)] = os.path.join(base_path, name)
    return versions


def select_versions(
    policy: _VersionPolicy,
    available: Iterable[int],
) -> list[int]:
    """The versions a `model_version_policy` asks for, among `available`, ascending."""
    available = sorted(set(available))
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return available
    if choice == "specific":
        wanted = set(policy.specific.versions)
        return [v for v in available if v in wanted]
    # latest{} without num_versions, or no policy at all, means the newest one.
    num_versions = policy.latest.num_versions if choice == "latest" else 1
    return available[-max(1, num_versions) :]
