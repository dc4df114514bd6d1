"""The local control plane's cache of built binaries (hack/local-cluster.sh, sourced).

A cached binary is run only while it is the file that was built: a cache restored without its
large files once left an empty crd-apiserver that started as an empty shell script and exited
without a word (the CI failure of stop 18).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL_CLUSTER = ROOT / "hack" / "local-cluster.sh"


def bash(cache: Path, script: str) -> subprocess.CompletedProcess:
    """Runs `script` with local-cluster.sh's functions, its cache in `cache`."""
    env = dict(os.environ, HTX_CACHE_DIR=str(cache))
    return subprocess.run(
        ["bash", "-c", f'set -euo pipefail; source "{LOCAL_CLUSTER}"; {script}'],
        capture_output=True, text=True, env=env, timeout=60,
    )


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    path = tmp_path / "kubernetes-1.20.2" / "bin"
    path.mkdir(parents=True)
    return path


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def built(cache: Path, name: str) -> bool:
    return bash(cache, f"all_built {name}").returncode == 0


def test_an_empty_binary_is_not_built(tmp_path: Path, bin_dir: Path) -> None:
    executable(bin_dir / "kube-apiserver", "")
    assert not built(tmp_path, "kube-apiserver")


def test_a_binary_from_before_checksums_is_trusted_once_if_it_names_its_version(tmp_path: Path, bin_dir: Path) -> None:
    executable(bin_dir / "kube-apiserver", "#!/bin/sh\necho 'Kubernetes v1.20.2'\n")
    assert built(tmp_path, "kube-apiserver")
    seal = (bin_dir / "kube-apiserver.sha256").read_text().strip()
    assert len(seal) == 64

    executable(bin_dir / "kube-controller-manager", "#!/bin/sh\necho 'Kubernetes v1.19.0'\n")
    assert not built(tmp_path, "kube-controller-manager")
    assert not (bin_dir / "kube-controller-manager.sha256").exists()


def test_a_sealed_binary_that_changed_is_not_built(tmp_path: Path, bin_dir: Path) -> None:
    binary = bin_dir / "kube-apiserver"
    executable(binary, "#!/bin/sh\necho 'Kubernetes v1.20.2'\n")
    assert bash(tmp_path, f'seal_binary "{binary}"').returncode == 0
    assert built(tmp_path, "kube-apiserver")

    binary.write_text("#!/bin/sh\necho 'Kubernetes v1.20.2' # damaged\n")
    assert not built(tmp_path, "kube-apiserver")


@pytest.mark.parametrize(
    ("command", "said"),
    [("exit 3", "exited with status 3"), ("exit 0", "exited with status 0"), (r"kill -9 \$\$", "was killed by signal 9")],
)
def test_a_component_that_dies_is_reported_with_how(tmp_path: Path, command: str, said: str) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "pids").mkdir(parents=True)
    result = bash(
        tmp_path,
        f'launch "{run_dir}" c bash -c "{command}" "{run_dir}/"; '
        f'wait_until "{run_dir}" c 20 "it to be ready" false',
    )
    assert result.returncode == 1
    assert f"c {said} while waiting for it to be ready" in result.stderr
