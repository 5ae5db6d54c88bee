"""Kafka TLS settings resolve from the environment into librdkafka properties for every client."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitoring.settings import ConfigError, Settings


def test_kafka_is_plaintext_unless_ssl_is_chosen() -> None:
    assert Settings.from_environ({}).kafka_security.client_config() == {}


def test_ssl_settings_become_librdkafka_properties_with_hostname_verification() -> None:
    settings = Settings.from_environ(
        {
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CA_FILE": "/etc/monitoring/kafka-ca.pem",
            "KAFKA_SSL_CERT_FILE": "/etc/monitoring/client.pem",
            "KAFKA_SSL_KEY_FILE": "/etc/monitoring/client.key",
        }
    )
    assert settings.kafka_security.ca_file == Path("/etc/monitoring/kafka-ca.pem")
    assert settings.kafka_security.client_config() == {
        "security.protocol": "ssl",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": "/etc/monitoring/kafka-ca.pem",
        "ssl.certificate.location": "/etc/monitoring/client.pem",
        "ssl.key.location": "/etc/monitoring/client.key",
    }


def test_a_client_certificate_without_its_key_or_an_unknown_protocol_fails_fast() -> None:
    with pytest.raises(ConfigError, match="KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE"):
        Settings.from_environ({"KAFKA_SSL_CERT_FILE": "/c.pem"})
    with pytest.raises(ConfigError, match="KAFKA_SECURITY_PROTOCOL='sasl_ssl': expected one of plaintext, ssl"):
        Settings.from_environ({"KAFKA_SECURITY_PROTOCOL": "sasl_ssl"})
