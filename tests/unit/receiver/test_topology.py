"""The topology file: what it means (parts, matchers, components) and how a bad one is refused."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from monitoring.config_files import ConfigFileError
from receiver.config.topology import Part, Topology, parse_selector
from receiver.intake.correlation import IncidentRules, PartIndex

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "topology" / "platform.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topology.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (
            """
            parts:
              - name: kafka
              - name: asset-service
                depends_on: [kafka, postgres]
            """,
            4,
            "part 'asset-service' depends on unknown part 'postgres'",
        ),
        (
            """
            parts:
              - name: a
                depends_on: [c]
              - name: b
                depends_on: [a]
              - name: c
                depends_on:
                  - b
            """,
            5,  # the edge that closes the cycle: b -> a
            "dependency cycle: a -> c -> b -> a",
        ),
        (
            """
            parts:
              - name: a
                depends_on: [a]
            """,
            3,
            "dependency cycle: a -> a",
        ),
        (
            """
            parts:
              - name: kafka
                match:
                  - 'service="kafka"'
                  - 'service=~"kafka(", job="x"'
            """,
            5,
            "bad matcher in 'service=~\"kafka(\", job=\"x\"': bad regular expression 'kafka('",
        ),
        (
            """
            parts:
              - name: kafka
                match: ['service=="kafka"']
            """,
            3,
            "bad matcher in 'service==\"kafka\"': cannot parse matcher at",
        ),
        (
            """
            parts:
              - name: kafka
                match: ['{}']
            """,
            3,
            "an empty selector matches every alert",
        ),
        (
            """
            parts:
              - name: kafka
                match: ['service="kafka",']
            """,
            3,
            "a trailing comma",
        ),
        (
            """
            parts:
              - name: kafka
              - name: kafka
            """,
            3,
            "part 'kafka' is defined twice (first as parts[0])",
        ),
        (
            """
            parts:
              - name: kafka
                dependson: [zookeeper]
            """,
            3,
            "unknown key 'dependson'; expected name, depends_on, match",
        ),
        (
            """
            correlation: {same_part: yes please}
            parts: [{name: kafka}]
            """,
            1,
            "correlation.same_part: expected true or false",
        ),
        ("parts: []\n", 1, "parts: expected a non-empty list"),
        ("parts: [{name: kafka}\n", 2, "invalid YAML"),
    ],
    ids=[
        "unknown-part",
        "cycle",
        "self-dependency",
        "bad-regex",
        "bad-operator",
        "empty-selector",
        "trailing-comma",
        "duplicate",
        "unknown-key",
        "rule-not-boolean",
        "no-parts",
        "bad-yaml",
    ],
)
def test_a_bad_topology_file_is_refused_naming_the_file_the_line_and_the_problem(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigFileError) as caught:
        Topology.from_file(path)
    assert (caught.value.path, caught.value.line) == (path, line)
    assert str(caught.value).startswith(f"{path}:{line}: invalid topology")
    assert problem in str(caught.value)


def test_the_shipped_topology_loads_and_maps_the_shipped_alerts_to_their_parts() -> None:
    topology = Topology.from_file(SHIPPED)
    index = PartIndex(topology)
    cases = {
        "ServiceDown scrape": {"alertname": "ServiceDown", "service": "transaction-service", "job": "platform"},
        "ServiceDown check": {"alertname": "ServiceDown", "service": "transaction-service", "job": "exporter"},
        "kafka": {"alertname": "ExporterKafkaDown", "service": "monitoring-exporter"},
        "group": {
            "alertname": "ConsumerGroupStalled",
            "service": "kafka",
            "group": "e2e-portfolio-1",
            "status": "stall",
        },
        "other group": {"alertname": "ConsumerGroupLagging", "service": "kafka", "group": "billing"},
        "topic": {"alertname": "EventFailureSpike", "service": "monitoring-exporter", "topic": "e2e-x.asset.events"},
        "missing follow-up": {
            "alertname": "ConsistencyViolation",
            "service": "transaction-service",
            "source": "transaction-service",
            "violation": "missing_followup",
        },
        "ordering": {"alertname": "ConsistencyViolation", "service": "transaction-service", "violation": "duplicate"},
        "receiver db": {"alertname": "ReceiverDatabaseDown", "service": "monitoring-receiver"},
        "outbox": {"alertname": "OutboxStuck", "service": "monitoring-receiver"},
        "pipeline": {"alertname": "MonitoringPipelineBroken", "service": "monitoring-receiver"},
        "published": {"alertname": "DomainEventsDelayed", "service": "monitoring-receiver", "stage": "published"},
        "stored": {"alertname": "DomainEventsDelayed", "service": "monitoring-receiver", "stage": "stored"},
        "host": {"alertname": "HostHighCpu", "service": "node"},
        "unknown": {"alertname": "Mystery", "service": "payments"},
    }
    expected = {
        "ServiceDown scrape": "transaction-service",
        "ServiceDown check": "transaction-service",
        "kafka": "kafka",
        "group": "consumer-group:portfolio-service",
        "other group": "consumer-group:other",
        "topic": "topic:asset.events",
        "missing follow-up": "portfolio-service",
        "ordering": "transaction-service",
        "receiver db": "postgresql",
        "outbox": "receiver",
        "pipeline": "alertmanager",
        "published": "kafka",
        "stored": "mongodb",
        "host": "host",
        "unknown": None,
    }
    assert {name: index.part_of(labels) for name, labels in cases.items()} == expected
    rules = IncidentRules(topology, 300, 300)
    assert rules.ancestors("portfolio-service") == {
        "topic:portfolio.events",
        "consumer-group:portfolio-service",
        "topic:transaction.events",
        "postgresql",
        "kafka",
    }
    # the platform's parts hang together through Kafka and the databases; the host and the exporter do not
    assert topology.component("asset-service") == topology.component("receiver") == "kafka"
    assert topology.component("host") == "host"
    assert topology.component("exporter") == "exporter"


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ('service="kafka"', {"service": "kafka"}, True),
        ('service="kafka"', {"service": "kafka-2"}, False),
        ('service!="kafka"', {}, True),
        ('group=""', {"service": "kafka"}, True),  # an absent label has the value ""
        ('group=""', {"group": "g"}, False),
        ('group!=""', {"group": "g"}, True),
        ('topic=~"asset.*"', {"topic": "e2e.asset.events"}, False),  # anchored at both ends
        ('topic=~".*asset\\\\.events"', {"topic": "e2e.asset.events"}, True),
        ('topic!~"asset.*"', {"topic": "asset.events"}, False),
        ('{service="kafka", group=""}', {"service": "kafka"}, True),
        ("service = kafka , job=x", {"service": "kafka", "job": "x"}, True),
        ('summary="say \\"hi\\""', {"summary": 'say "hi"'}, True),
    ],
)
def test_a_selector_matches_as_alertmanager_matchers_do(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_selector(selector).matches(labels) is matches


def test_an_alert_belongs_to_the_first_part_in_file_order_whose_selector_matches() -> None:
    topology = Topology.from_mapping(
        {
            "parts": [
                {"name": "group", "match": ['service="kafka", group!=""']},
                {"name": "kafka", "match": ['service="kafka"']},
                {"name": "by-regex", "match": ['instance=~".*:9100"']},
                {"name": "catch-all", "match": ['alertname!="Watchdog"']},
            ]
        }
    )
    index = PartIndex(topology)
    assert index.part_of({"service": "kafka", "group": "g"}) == "group"
    assert index.part_of({"service": "kafka"}) == "kafka"
    assert index.part_of({"instance": "h:9100", "service": "kafka"}) == "kafka"
    assert index.part_of({"instance": "h:9100"}) == "by-regex"
    assert index.part_of({"alertname": "X"}) == "catch-all"
    assert index.part_of({"alertname": "Watchdog"}) is None


def test_the_index_agrees_with_a_linear_scan_over_thousands_of_parts() -> None:
    rng = random.Random(7)  # noqa: S311 - reproducible test data, not a secret
    parts = []
    for i in range(3000):
        selectors = [f'service="svc-{i}"']
        if i % 7 == 0:
            selectors.append(f'instance=~"host-{i % 50}:.*", job="node"')
        if i % 11 == 0:
            selectors.append(f'group=~"g-{i}.*"')
        deps = [f"p{rng.randrange(i)}"] if i and rng.random() < 0.8 else []
        parts.append({"name": f"p{i}", "depends_on": deps, "match": selectors})
    topology = Topology.from_mapping({"parts": parts})
    index = PartIndex(topology)

    def scan(labels: dict[str, str]) -> str | None:
        return next((p.name for p in topology.parts if any(s.matches(labels) for s in p.selectors)), None)

    for _ in range(2000):
        labels = {
            "service": f"svc-{rng.randrange(3500)}",
            "instance": f"host-{rng.randrange(60)}:9100",
            "job": rng.choice(["node", "platform"]),
        }
        if rng.random() < 0.3:
            labels["group"] = f"g-{rng.randrange(3500)}x"
        if rng.random() < 0.3:
            del labels["service"]
        assert index.part_of(labels) == scan(labels), labels


def test_ancestors_of_a_deep_chain_are_computed_without_recursion() -> None:
    parts = [Part("p0")] + [Part(f"p{i}", (f"p{i - 1}",)) for i in range(1, 5000)]
    rules = IncidentRules(Topology(tuple(parts)), 300, 300)
    assert len(rules.ancestors("p4999")) == 4999
    assert rules.upstream_of("p10", "p4999")
    assert not rules.upstream_of("p4999", "p10")
