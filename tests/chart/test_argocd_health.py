"""The Argo CD health checks of the chart's README, run by Lua 5.4 against sample objects.

The scripts are read from the README's `argocd-cm` block, so what users paste is what is tested.
Argo CD runs a health script as a chunk with the object as the global table `obj`; so does this.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from conftest import CHART

KINDS = ["Database", "Function", "Proxy", "Backup", "BackupSchedule"]


def scripts() -> dict[str, str]:
    readme = (CHART / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)
    (config,) = [yaml.safe_load(b) for b in blocks if "name: argocd-cm" in b]
    prefix = "resource.customizations.health.htx.vinacis.com_"
    found = {key[len(prefix):]: lua for key, lua in config["data"].items() if key.startswith(prefix)}
    assert sorted(found) == sorted(KINDS), f"one health check per kind: {sorted(found)}"
    return found


def lua_literal(value) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def health(kind: str, obj: dict) -> tuple[str, str]:
    lua = shutil.which("lua5.4") or shutil.which("lua")
    assert lua, "lua5.4 is needed (hack/python-env.sh installs Debian's lua5.4)"
    program = (
        f"obj = {lua_literal(obj)}\n"
        f"local check = function()\n{scripts()[kind]}\nend\n"
        "local hs = check()\n"
        'io.write(hs.status, "\\n", hs.message or "", "\\n")\n'
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as f:
        f.write(program)
        f.flush()
        result = subprocess.run([lua, f.name], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    status, message = result.stdout.split("\n", 1)
    assert status in {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
    return status, message.strip()


def condition(type_: str, status: str, reason: str, message: str = "") -> dict:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": 1,
    }


def managed(kind: str, conditions: list[dict] | None, generation: int = 1, observed: int | None = 1) -> dict:
    obj = {
        "apiVersion": "htx.vinacis.com/v1alpha1",
        "kind": kind,
        "metadata": {"name": "orders", "namespace": "shop", "generation": generation},
        "spec": {"engine": "postgresql", "sku": "db-s-1vcpu-2gb"},
    }
    if conditions is not None:
        obj["status"] = {"conditions": conditions, "id": "db-1", "state": "online"}
        if observed is not None:
            obj["status"]["observedGeneration"] = observed
    return obj


READY = condition("Ready", "True", "Available", "the database is online")
SYNCED = condition("Synced", "True", "ReconcileSuccess")

MANAGED_CASES = [
    ("no status yet", None, 1, None, "Progressing", "Waiting for the operator"),
    ("an older generation", [READY, SYNCED], 2, 1, "Progressing", "generation 2"),
    ("creating", [condition("Ready", "False", "Creating", "the portal reports creating")], 1, 1, "Progressing", "Creating"),
    ("ready", [READY, SYNCED], 1, 1, "Healthy", "online"),
    ("ready, a sku change the portal cannot apply", [READY, condition("Synced", "False", "UpdateNotSupported", "sku is 'a'")], 1, 1, "Degraded", "UpdateNotSupported"),
    ("ready, the portal unreachable for now", [READY, condition("Synced", "False", "PortalUnreachable", "timed out")], 1, 1, "Healthy", "retrying: PortalUnreachable"),
    ("a bad token", [condition("Ready", "False", "Unauthorized", "401"), condition("Synced", "False", "Unauthorized", "401")], 1, 1, "Degraded", "Unauthorized"),
    ("the name is taken", [condition("Ready", "False", "AlreadyExists", "taken")], 1, 1, "Degraded", "AlreadyExists"),
    ("quota", [condition("Ready", "False", "QuotaExceeded", "402"), condition("Synced", "False", "QuotaExceeded", "402")], 1, 1, "Degraded", "QuotaExceeded"),
    ("the portal failed it", [condition("Ready", "False", "Failed", "the portal reports failed"), SYNCED], 1, 1, "Degraded", "Failed"),
    ("paused", [condition("Ready", "False", "Paused", "paused by annotation"), SYNCED], 1, 1, "Suspended", "Paused"),
    ("deleting", [condition("Ready", "False", "Deleting", "deleting at the portal")], 1, 1, "Progressing", "Deleting"),
    ("never reached the portal", [condition("Ready", "False", "PortalUnreachable", "refused"), condition("Synced", "False", "PortalUnreachable", "refused")], 1, 1, "Progressing", "PortalUnreachable"),
    ("conditions not written yet", [], 1, 1, "Progressing", "Waiting"),
]


@pytest.mark.parametrize("kind", ["Database", "Function", "Proxy"])
@pytest.mark.parametrize("case, conditions, generation, observed, status, message", MANAGED_CASES, ids=[c[0] for c in MANAGED_CASES])
def test_managed_kinds(kind, case, conditions, generation, observed, status, message):
    got = health(kind, managed(kind, conditions, generation, observed))
    assert got[0] == status, (case, got)
    assert message in got[1], (case, got)


def backup(phase: str | None, conditions: list[dict] | None = None) -> dict:
    obj = {"apiVersion": "htx.vinacis.com/v1alpha1", "kind": "Backup", "metadata": {"name": "nightly-1", "generation": 1}, "spec": {"databaseRef": {"name": "orders"}}}
    if phase is not None or conditions is not None:
        obj["status"] = {"conditions": conditions or [], "observedGeneration": 1}
        if phase is not None:
            obj["status"]["phase"] = phase
    return obj


@pytest.mark.parametrize(
    "obj, status, message",
    [
        (backup(None), "Progressing", "Waiting for the operator"),
        (backup("Pending"), "Progressing", "Backup pending"),
        (backup("Running", [condition("Ready", "False", "Running", "")]), "Progressing", "Backup running"),
        (backup("Completed", [condition("Ready", "True", "Completed", "")]), "Healthy", "Backup completed"),
        (backup("Failed", [condition("Ready", "False", "Failed", "the portal reports failed")]), "Degraded", "Failed: the portal reports failed"),
        (backup("Failed"), "Degraded", "Backup failed"),
        (backup("Pending", [condition("Ready", "False", "Forbidden", "403")]), "Degraded", "Forbidden"),
        (backup("Pending", [condition("Ready", "False", "RateLimited", "429")]), "Progressing", "Backup pending"),
        (backup("Pending", [condition("Ready", "False", "DatabaseNotReady", "the database is creating")]), "Progressing", "Backup pending"),
        (backup("Pending", [condition("Ready", "False", "Requesting", "asking the portal")]), "Progressing", "Backup pending"),
        (backup("Pending", [condition("Ready", "False", "Paused", "paused by annotation")]), "Suspended", "Paused"),
    ],
)
def test_backup(obj, status, message):
    got = health("Backup", obj)
    assert got == (status, got[1]) and message in got[1], got


def schedule(suspend: bool | None, conditions: list[dict] | None, generation: int = 1, observed: int = 1) -> dict:
    obj = {"apiVersion": "htx.vinacis.com/v1alpha1", "kind": "BackupSchedule", "metadata": {"name": "nightly", "generation": generation},
           "spec": {"databaseRef": {"name": "orders"}, "schedule": "0 3 * * *"}}
    if suspend is not None:
        obj["spec"]["suspend"] = suspend
    if conditions is not None:
        obj["status"] = {"conditions": conditions, "observedGeneration": observed}
    return obj


@pytest.mark.parametrize(
    "obj, status, message",
    [
        (schedule(None, None), "Progressing", "Waiting for the operator"),
        (schedule(False, [condition("Ready", "True", "Scheduled", "")]), "Healthy", "Scheduled"),
        (schedule(True, [condition("Ready", "True", "Scheduled", "")]), "Suspended", "Suspended"),
        (schedule(False, [condition("Ready", "True", "Scheduled", "")], generation=3, observed=2), "Progressing", "generation 3"),
        (schedule(False, [condition("Ready", "False", "InvalidSchedule", "not a cron expression")]), "Degraded", "InvalidSchedule"),
        (schedule(False, [condition("Synced", "False", "PortalUnreachable", "")]), "Healthy", "Scheduled"),
        (schedule(False, [condition("Ready", "False", "Paused", "paused by annotation")]), "Suspended", "Paused"),
        (schedule(True, [condition("Ready", "True", "Suspended", "suspended: no Backups are created")]), "Suspended", "Suspended"),
    ],
)
def test_backup_schedule(obj, status, message):
    got = health("BackupSchedule", obj)
    assert got[0] == status and message in got[1], got
