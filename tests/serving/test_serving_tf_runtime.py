"""`--tensorflow_session_config_file` and the thread flags: what reaches the TF runtime."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import tensorflow as tf
from serving_models import free_port

from serving import tf_runtime
from serving.__main__ import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_fresh_process_runs_tf_with_the_file_and_the_flags_over_it(tmp_path):
    path = tmp_path / "session.config"
    path.write_text(
        "intra_op_parallelism_threads: 3\n"
        "inter_op_parallelism_threads: 3\n"
        "experimental { disable_thread_spinning: true }\n"
    )
    # The intra-op flag overrides the file's count, as in TF Serving; inter-op keeps it.
    script = textwrap.dedent(
        f"""
        import tensorflow as tf
        from tensorflow.python.eager import context
        from serving import tf_runtime
        config = tf_runtime.read_session_config({str(path)!r})
        tf_runtime.configure(config, intra_op=1)
        print(float(tf.reduce_sum(tf.ones([4]))))
        print(tf.config.threading.get_intra_op_parallelism_threads(),
              tf.config.threading.get_inter_op_parallelism_threads(),
              context.context().config.experimental.disable_thread_spinning)
        # Asking again for what the runtime has is no conflict, though TF keeps fields of
        # its own in the config (experimental.mlir_bridge_rollout) next to those asked for.
        tf_runtime.configure(config, intra_op=1)
        print("again")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[:3] == ["4.0", "1 3 True", "again"]


def test_a_runtime_already_started_refuses_other_settings_and_takes_its_own():
    float(tf.reduce_sum(tf.ones([2])))  # the runtime has started in this process
    current = tf.config.threading.get_intra_op_parallelism_threads()
    other = current + 1
    with pytest.raises(RuntimeError, match=r"with other settings \(intra_op_parallelism_threads\)"):
        tf_runtime.configure(intra_op=other)
    config = tf.compat.v1.ConfigProto()
    config.experimental.disable_thread_spinning = True
    with pytest.raises(
        RuntimeError, match=r"with other settings \(experimental.disable_thread_spinning\)"
    ):
        tf_runtime.configure(config)
    tf_runtime.configure()  # nothing asked: nothing to refuse
    if current > 0:
        tf_runtime.configure(intra_op=current)


@pytest.mark.parametrize(
    "text, message",
    [
        ("experimental { no_such_field: 1 }", "to hold a text-format ConfigProto"),
        ("use_per_session_threads: true", "sets use_per_session_threads, which only TF1"),
    ],
)
def test_bad_session_config_files_are_refused_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "session.config"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        tf_runtime.read_session_config(str(path))


def test_the_server_refuses_to_start_with_an_unreadable_session_config(
    model_root, tmp_path, capsys
):
    argv = [
        f"--model_base_path={model_root}/keras_model",
        f"--port={free_port()}",
        "--rest_api_port=0",
        f"--tensorflow_session_config_file={tmp_path}/missing.config",
    ]
    assert main(argv) == 1
    assert "Cannot read --tensorflow_session_config_file=" in capsys.readouterr().err
