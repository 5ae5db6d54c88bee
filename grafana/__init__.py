"""Grafana dashboards as code (grafana-foundation-sdk) and their provisioning.

``python -m grafana`` writes the dashboards to ``grafana/dashboards/*.json``; Grafana loads
them with the datasources through ``grafana/provisioning/`` (see docs/dashboards.md).
"""
