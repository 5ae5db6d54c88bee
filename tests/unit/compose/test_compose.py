"""docker-compose.yml, cross-checked against the repository (no Docker engine runs here).

The expected names, defaults and ports come from the code: the Option definitions in
monitoring/settings.py, exporter/config.py and receiver/config/settings.py, the shipped Prometheus and
Alertmanager configuration, the Grafana provisioning and the CLI's subcommands.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from exporter.config import EXPORTER_OPTIONS
from exporter.health_checks import load_checks
from monitoring.settings import OPTIONS, Option
from receiver.config.settings import RECEIVER_OPTIONS

REPO = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
OURS = ("exporter", "receiver", "simulator", "fake-services")
ALL_OPTIONS: dict[str, Option[Any]] = {o.env: o for o in (*OPTIONS, *EXPORTER_OPTIONS, *RECEIVER_OPTIONS)}
# Read by libraries, not by our Option tables: the OpenTelemetry SDK and prometheus_client.
LIBRARY_VARIABLES = re.compile(r"^(OTEL_[A-Z_]+|PROMETHEUS_MULTIPROC_DIR)$")
VICTORIAMETRICS_PORT = 8428  # VictoriaMetrics' own default, as scripts/services/victoriametrics.sh uses it
REFERENCE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def references(value: object) -> Iterator[tuple[str, str, str]]:
    """``(name, operator, default-or-message)`` of every ``${...}`` in a compose value."""
    for match in REFERENCE.finditer(str(value)):
        yield match.group(1), match.group(2) or "", match.group(3) or ""


def with_defaults(value: object) -> str:
    """The value as compose renders it with every variable at its default."""
    return REFERENCE.sub(lambda m: m.group(3) if m.group(2) == "-" else "x", str(value))


def port_default(name: str) -> int:
    default = ALL_OPTIONS[name].default
    assert isinstance(default, int)
    return default


def test_the_stack_has_every_component_of_the_spec() -> None:
    assert set(SERVICES) == {
        "kafka", "postgres", "mongodb", "prometheus", "victoriametrics", "alertmanager", "grafana", "node-exporter",
        "jaeger", *OURS,
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_image_is_pinned_to_a_version(name: str) -> None:
    image = SERVICES[name]["image"]
    repository, _, tag = image.rpartition(":")
    assert repository, f"{name}: {image} has no tag"
    assert tag != "latest"
    assert re.search(r"\d+\.\d+", tag), f"{name}: {image} is not a version tag"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_healthcheck(name: str) -> None:
    check = SERVICES[name]["healthcheck"]
    assert check["test"][0] == "CMD"
    assert {"interval", "timeout", "retries"} <= set(check)


def test_every_bind_mounted_path_and_config_file_exists_and_named_volumes_are_declared() -> None:
    declared = set(COMPOSE["volumes"])
    used_volumes = set()
    for name, service in SERVICES.items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith((".", "/")):
                path = REPO / source if source.startswith(".") else Path(source)
                assert path.exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used_volumes.add(source)
        build = service.get("build")
        if build:
            assert (REPO / build["context"] / build["dockerfile"]).is_file()
    assert used_volumes == declared


def test_the_dockerfile_copies_what_exists_and_installs_the_monitoring_command() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11[\w.-]*-slim", dockerfile, re.M)
    for sources in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for source in sources.split():
            assert (REPO / source).exists(), source
    assert 'ENTRYPOINT ["monitoring"]' in dockerfile
    chown = re.search(r"chown monitoring ([^\n\\]+)", dockerfile)
    assert chown is not None
    owned = set(chown.group(1).split())
    for name in OURS:
        for mount in SERVICES[name].get("volumes", []):
            source, target = mount.split(":")[:2]
            if not source.startswith((".", "/")):
                assert target in owned, f"{name}: the image user cannot write the volume at {target}"


def test_our_services_run_monitoring_subcommands_the_cli_has() -> None:
    helps = subprocess.run(
        [sys.executable, "-m", "ops.cli", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    for name in OURS:
        service = SERVICES[name]
        assert service["image"] == SERVICES["exporter"]["image"]
        command = service["command"][0]
        assert re.search(rf"\b{command}\b", helps), f"{name}: `monitoring {command}` is not a CLI command"


@pytest.mark.parametrize("name", OURS)
def test_environment_variables_of_our_services_are_options_of_the_code_with_its_defaults(name: str) -> None:
    for variable, value in SERVICES[name].get("environment", {}).items():
        if LIBRARY_VARIABLES.match(variable):
            continue
        assert variable in ALL_OPTIONS, f"{name}: {variable} is not an Option of monitoring/, exporter/ or receiver/"
        option = ALL_OPTIONS[variable]
        parsed = option.parse(with_defaults(value))
        for referenced, operator, default in references(value):
            if referenced == variable and operator == "-" and option.default not in (None, ()):
                assert parsed == option.default, (
                    f"{name}: {variable} defaults to {default}, the code to {option.default}"
                )


def test_secrets_are_required_from_the_environment_not_defaulted() -> None:
    secrets = {o.env for o in ALL_OPTIONS.values() if o.secret} | {"POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}
    text = (REPO / "docker-compose.yml").read_text()
    for variable, operator, default in references(text):
        if variable.endswith(("PASSWORD", "TOKEN")):
            assert operator == "?", f"{variable} must be required (${{{variable}:?...}}), not defaulted"
        elif variable in secrets and operator == "-":
            assert "@" not in default, f"{variable}: a default must not carry credentials"
    assert COMPOSE["secrets"]["receiver-token"] == {"environment": "RECEIVER_WEBHOOK_TOKEN"}


def test_prometheus_keeps_metrics_for_the_retention_the_settings_define() -> None:
    flags = dict(f.split("=", 1) for f in SERVICES["prometheus"]["command"])
    retention = flags["--storage.tsdb.retention.time"]
    assert with_defaults(retention) == "15d"
    assert ALL_OPTIONS["RETENTION_METRICS"].parse(with_defaults(retention)) == ALL_OPTIONS["RETENTION_METRICS"].default
    assert [n for n, _, _ in references(retention)] == ["RETENTION_METRICS"]


def test_the_long_term_store_keeps_metrics_far_longer_than_prometheus_and_deduplicates_the_ha_pair() -> None:
    flags = dict(f.split("=", 1) for f in SERVICES["victoriametrics"]["command"])
    retention = with_defaults(flags["-retentionPeriod"])
    assert retention == "400d"
    prometheus_retention = ALL_OPTIONS["RETENTION_METRICS"].default
    assert isinstance(prometheus_retention, float)
    prometheus_days = prometheus_retention / 86400
    assert int(retention.removesuffix("d")) > 12 * 30 > prometheus_days
    # One sample per series per scrape interval: the shipped Prometheus's.
    shipped = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    assert flags["-dedup.minScrapeInterval"] == shipped["global"]["scrape_interval"]
    relabel_mount = f".{flags['-relabelConfig'].replace('/etc/victoriametrics', '/victoriametrics')}"
    assert f"{relabel_mount}:{flags['-relabelConfig']}:ro" in SERVICES["victoriametrics"]["volumes"]
    assert yaml.safe_load((REPO / relabel_mount).read_text()) == [{"action": "labeldrop", "regex": "replica"}]
    assert "replica" in shipped["global"]["external_labels"]


def test_prometheus_remote_writes_to_the_long_term_store_and_grafana_can_query_it() -> None:
    assert listen_port("victoriametrics", "-httpListenAddr") == (VICTORIAMETRICS_PORT, "VICTORIAMETRICS_PORT")
    shipped = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    assert [urlsplit(w["url"])[1:3] for w in shipped["remote_write"]] == [
        (f"127.0.0.1:{VICTORIAMETRICS_PORT}", "/api/v1/write")
    ]
    long_term = yaml.safe_load((REPO / "grafana/provisioning/datasources/datasources.yml").read_text())
    [datasource] = [d for d in long_term["datasources"] if d["uid"] == "victoriametrics"]
    assert datasource["type"] == "prometheus"  # so the dashboards' `environment` variable offers it
    url = with_defaults(SERVICES["grafana"]["environment"][datasource["url"][2:-1]])
    assert urlsplit(url).port == VICTORIAMETRICS_PORT


def listen_port(service: str, flag: str) -> tuple[int, str]:
    flags = dict(f.split("=", 1) for f in SERVICES[service]["command"] if "=" in f)
    address = flags[flag]
    names = [n for n, _, _ in references(address)]
    return int(with_defaults(address).rpartition(":")[2]), names[0] if names else ""


def scrape_targets() -> dict[str, list[str]]:
    prometheus = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    out = {
        job["job_name"]: [t for c in job.get("static_configs", []) for t in c["targets"]]
        for job in prometheus["scrape_configs"]
    }
    out["alerting"] = [
        t for am in prometheus["alerting"]["alertmanagers"] for c in am["static_configs"] for t in c["targets"]
    ]
    platform = yaml.safe_load((REPO / "prometheus" / "targets" / "platform.yml").read_text())
    out["platform"] = [t for group in platform for t in group["targets"]]
    return out


def test_ports_agree_between_compose_the_settings_and_the_shipped_prometheus_configuration() -> None:
    targets = scrape_targets()
    prometheus_port, variable = listen_port("prometheus", "--web.listen-address")
    assert (prometheus_port, variable) == (port_default("PROMETHEUS_PORT"), "PROMETHEUS_PORT")
    assert targets["prometheus"] == [f"127.0.0.1:{prometheus_port}"]
    alertmanager_port, variable = listen_port("alertmanager", "--web.listen-address")
    assert (alertmanager_port, variable) == (port_default("ALERTMANAGER_PORT"), "ALERTMANAGER_PORT")
    assert targets["alertmanager"] == targets["alerting"] == [f"127.0.0.1:{alertmanager_port}"]
    assert targets["node"] == [f"127.0.0.1:{listen_port('node-exporter', '--web.listen-address')[0]}"]
    for service, variable in (("exporter", "EXPORTER_PORT"), ("receiver", "RECEIVER_PORT")):
        value = SERVICES[service]["environment"][variable]
        assert int(with_defaults(value)) == port_default(variable)
        assert targets[service] == [f"127.0.0.1:{port_default(variable)}"]
    first = int(dict(f.split("=", 1) for f in SERVICES["fake-services"]["command"][1:])["--port"])
    assert targets["platform"] == [f"127.0.0.1:{first + i}" for i in range(3)]


def test_alertmanager_sends_to_the_receiver_port_with_the_mounted_token() -> None:
    alertmanager = yaml.safe_load((REPO / "alertmanager" / "alertmanager.yml").read_text())
    webhooks = [w for r in alertmanager["receivers"] for w in r.get("webhook_configs", [])]
    assert webhooks
    secret_target = SERVICES["alertmanager"]["secrets"][0]["target"]
    for webhook in webhooks:
        assert urlsplit(webhook["url"]).port == port_default("RECEIVER_PORT")
        assert webhook["http_config"]["authorization"]["credentials_file"] == secret_target


def test_healthchecks_probe_the_ports_the_services_listen_on() -> None:
    expected = {
        "prometheus": port_default("PROMETHEUS_PORT"),
        "alertmanager": port_default("ALERTMANAGER_PORT"),
        "grafana": port_default("GRAFANA_PORT"),
        "exporter": port_default("EXPORTER_PORT"),
        "receiver": port_default("RECEIVER_PORT"),
        "fake-services": 9400,
        "node-exporter": 9100,
        "victoriametrics": VICTORIAMETRICS_PORT,
    }
    for service, port in expected.items():
        probe = with_defaults(" ".join(SERVICES[service]["healthcheck"]["test"]))
        assert f"127.0.0.1:{port}/" in probe, f"{service}: {probe}"


def test_grafana_gets_its_provisioning_and_the_datasource_settings_it_reads() -> None:
    grafana = SERVICES["grafana"]
    provider = yaml.safe_load((REPO / "grafana/provisioning/dashboards/dashboards.yml").read_text())["providers"][0]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in grafana["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    datasources = (REPO / "grafana/provisioning/datasources/datasources.yml").read_text()
    needed = set(re.findall(r"\$\{(\w+)\}", datasources))
    assert needed
    assert needed <= set(grafana["environment"])
    assert int(with_defaults(grafana["environment"]["GF_SERVER_HTTP_PORT"])) == port_default("GRAFANA_PORT")
    prometheus_url = with_defaults(grafana["environment"]["GRAFANA_PROMETHEUS_URL"])
    assert urlsplit(prometheus_url).port == port_default("PROMETHEUS_PORT")


def test_the_exporter_health_checks_are_valid_and_check_the_fake_services(tmp_path: Path) -> None:
    path = tmp_path / "health-checks.yml"
    path.write_text(COMPOSE["configs"]["health-checks"]["content"])
    checks = load_checks(path)
    platform = yaml.safe_load((REPO / "prometheus" / "targets" / "platform.yml").read_text())
    by_service = {group["labels"]["service"]: group["targets"][0] for group in platform}
    assert {c.name: urlsplit(c.url or "").netloc for c in checks} == by_service
    assert SERVICES["exporter"]["configs"][0]["target"] == SERVICES["exporter"]["environment"]["EXPORTER_HEALTH_CHECKS"]


def test_traces_go_to_the_jaeger_otlp_http_port() -> None:
    otlp = with_defaults(COMPOSE["x-stores"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert urlsplit(otlp).netloc == SERVICES["jaeger"]["environment"]["COLLECTOR_OTLP_HTTP_HOST_PORT"]
