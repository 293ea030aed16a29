"""The two pinned working sets: requirements-gpu.txt is requirements.txt with TensorFlow's
CUDA build (and its NVIDIA libraries) in place of tensorflow-cpu, nothing else."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def pins(path: pathlib.Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, version = requirement.split("==")
            found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def test_the_gpu_lock_swaps_tensorflow_cpu_for_the_cuda_build_and_nothing_else():
    cpu, gpu = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements-gpu.txt")
    assert set(cpu) - set(gpu) == {"tensorflow-cpu"}
    added = set(gpu) - set(cpu)
    assert "tensorflow" in added
    assert all(
        name.startswith("nvidia-") and name.endswith("-cu12") for name in added - {"tensorflow"}
    )
    assert gpu["tensorflow"] == cpu["tensorflow-cpu"]
    assert {name: gpu[name] for name in cpu if name in gpu} == {
        name: version for name, version in cpu.items() if name != "tensorflow-cpu"
    }


def test_make_test_does_not_touch_the_gpu_environment():
    makefile = (ROOT / "Makefile").read_text()
    test_rule = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "GPU" not in test_rule and "gpu" not in test_rule
