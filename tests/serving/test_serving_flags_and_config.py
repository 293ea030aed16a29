"""Command line and model config: flag names and errors, version policies, labels, and the
`python -m serving` entry point end to end."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from serving_models import free_port

from serving.__main__ import main
from serving.flags import UsageError, parse_flags
from serving.model_config import list_versions, read_model_server_config, select_versions
from serving.options import ServerOptions


def test_unknown_flag_exits_2_naming_it(capsys):
    assert main(["--model_base_path=/m", "--no_such_flag=3"]) == 2
    assert "--no_such_flag" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag",
    [
        "--use_alts_credentials=true",
        "--platform_config_file=/x",
        "--grpc_socket_path=/s",
        "--mixed_precision=bfloat16",
    ],
)
def test_flags_of_the_real_server_we_do_not_implement_say_so(flag, capsys):
    assert main(["--model_base_path=/m", flag]) == 2
    err = capsys.readouterr().err
    assert flag.split("=")[0] in err and "not supported" in err


def test_defaults_and_both_flag_syntaxes():
    options = parse_flags(["--model_base_path=/m"])
    assert (options.port, options.rest_api_port, options.model_name) == (8500, 8501, "default")
    assert options.bind_address == "127.0.0.1"
    assert options.rest_api_timeout_in_ms == 30000
    options = parse_flags(
        [
            "--port",
            "9000",
            "--rest_api_port=0",
            "--model_name=m",
            "--model_base_path",
            "/m",
            "--enable_batching=false",
            "--file_system_poll_wait_seconds=5",
            "--rest_api_enable_cors_support",
        ]
    )
    assert (options.port, options.rest_api_port, options.model_name) == (9000, 0, "m")
    assert options.rest_api_enable_cors_support is True
    assert options.file_system_poll_wait_seconds == 5
    assert options.enable_batching is False
    assert parse_flags(["--model_base_path=/m"]).file_system_poll_wait_seconds == 1


def test_batching_parameters_without_enable_batching_is_refused(capsys):
    assert main(["--model_base_path=/m", "--batching_parameters_file=/b"]) == 2
    assert "Received: --batching_parameters_file=/b, --enable_batching=False" in (
        capsys.readouterr().err
    )


def test_session_parallelism_with_either_pool_is_refused_quoting_all_three():
    with pytest.raises(UsageError, match="You cannot configure all") as error:
        parse_flags(
            [
                "--model_base_path=/m",
                "--tensorflow_session_parallelism=2",
                "--tensorflow_inter_op_parallelism=1",
            ]
        )
    assert str(error.value).endswith(
        "Received: --tensorflow_session_parallelism=2, --tensorflow_intra_op_parallelism=0, "
        "--tensorflow_inter_op_parallelism=1"
    )


def _unlike_default(name: str, default: object) -> tuple[object, str]:
    """A value of option `name` other than its default, and the flag text that says it."""
    if name == "saved_model_tags":
        return ("serve", "gpu"), "serve, gpu"
    if isinstance(default, bool):
        return not default, str(not default).lower()
    if isinstance(default, int | float):
        return default + 7, str(default + 7)
    return f"/{name}", f"/{name}"


def test_every_option_is_set_by_its_flag():
    # A flag that failed to reach its option would leave the default there. The session's
    # pool size may not be given with the two pool sizes, so it is checked on its own.
    alone = "tensorflow_session_parallelism"
    defaults = ServerOptions()
    wanted, argv = dataclasses.asdict(defaults), []
    for field in dataclasses.fields(ServerOptions):
        if field.name != alone:
            wanted[field.name], text = _unlike_default(field.name, getattr(defaults, field.name))
            argv.append(f"--{field.name}={text}")
    assert dataclasses.asdict(parse_flags(argv)) == wanted
    assert parse_flags(["--model_base_path=/m", f"--{alone}=3"]).tensorflow_session_parallelism == 3


def test_command_lines_that_cannot_run(capsys):
    assert main([]) == 2
    assert "--model_base_path and --model_config_file are empty" in capsys.readouterr().err
    assert main(["--model_base_path=/m", "--port=8500", "--rest_api_port=8500"]) == 2
    assert main(["--version"]) == 0


def test_version_directories_are_the_int64_named_children(model_root):
    assert sorted(list_versions(os.path.join(model_root, "keras_model"))) == [1, 2]
    assert list_versions(os.path.join(model_root, "no_such_model")) == {}


def test_config_file_policies_and_labels(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(
        textwrap.dedent(
            """\
            model_config_list {
              config { name: "a" base_path: "/a" model_platform: "tensorflow"
                       model_version_policy { latest { num_versions: 2 } } }
              config { name: "b" base_path: "/b"
                       model_version_policy { specific { versions: 3 versions: 9 } }
                       version_labels { key: "stable" value: 3 } }
              config { name: "c" base_path: "/c" model_version_policy { all {} } }
              config { name: "d" base_path: "/d" }
            }
            """
        )
    )
    config = read_model_server_config(str(path))
    a, b, c, d = config.model_config_list.config
    available = [1, 5, 3, 9]
    assert select_versions(a.model_version_policy, available) == [5, 9]
    assert select_versions(b.model_version_policy, available) == [3, 9]
    assert select_versions(c.model_version_policy, available) == [1, 3, 5, 9]
    assert select_versions(d.model_version_policy, available) == [9]
    assert dict(b.version_labels) == {"stable": 3}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_config_list { config { name: 'a' } }", "Expected a base_path for model 'a'"),
        ("model_config_list { config { nme: 'a' } }", "Parse error"),
        (
            "model_config_list { config { name: 'a' base_path: '/a' model_platform: 'pytorch' } }",
            "Expected model_platform 'tensorflow'",
        ),
        ("", "Expected a ModelServerConfig with a model_config_list"),
    ],
)
def test_bad_config_files_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.config"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_model_server_config(str(path))


def test_label_on_an_unloaded_version_fails_start_up(model_root, tmp_path, capsys):
    path = tmp_path / "labels.config"
    path.write_text(
        f'model_config_list {{ config {{ name: "k" base_path: "{model_root}/keras_model" '
        f'version_labels {{ key: "stable" value: 1 }} }} }}'
    )
    argv = [f"--model_config_file={path}", f"--port={free_port()}", "--rest_api_port=0"]
    assert main(argv) == 1
    assert (
        "Request to assign label to version 1 of model k, which is not currently available"
        in capsys.readouterr().err
    )


def test_python_dash_m_serving_serves_the_latest_version(model_root, tmp_path):
    grpc_port, rest_port = free_port(), free_port()
    # A TF Serving session config file and a thread flag over it start the runtime too.
    session_config = tmp_path / "session.config"
    session_config.write_text("experimental { disable_thread_spinning: true }\n")
    command = [
        sys.executable,
        "-m",
        "serving",
        "--model_name=km",
        f"--model_base_path={model_root}/keras_model",
        f"--port={grpc_port}",
        f"--rest_api_port={rest_port}",
        f"--tensorflow_session_config_file={session_config}",
        "--tensorflow_intra_op_parallelism=1",
    ]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    process = subprocess.Popen(command, cwd=repo, stderr=subprocess.PIPE, text=True)
    try:
        from serving.client import Client
        from serving.errors import UnavailableError

        client = Client(f"http://127.0.0.1:{rest_port}", timeout=5)
        deadline = time.monotonic() + 90
        while True:
            try:
                statuses = client.status("km")
                break
            except UnavailableError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.25)
        # Default policy: only the newest version is loaded.
        assert [(s.version, s.state) for s in statuses] == [(2, "AVAILABLE")]
        with Client(f"grpc://127.0.0.1:{grpc_port}") as grpc_client:
            assert grpc_client.metadata("km").version == 2
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
