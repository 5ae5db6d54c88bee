"""The provisioned datasources as panels refer to them, and the SQL query model.

The uids are fixed in ``grafana/provisioning/datasources/datasources.yml``. Prometheus panels
refer to the ``environment`` datasource variable instead (one Prometheus per environment),
whose default is the provisioned ``prometheus`` uid.

grafana-foundation-sdk ships no model for the PostgreSQL datasource's query, so
``SqlQuery`` is one, registered with the SDK's runtime like its own query models: loading a
dashboard through the SDK then types SQL targets as well.
"""

from __future__ import annotations

from typing import Any, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

PROMETHEUS_UID = "prometheus"
POSTGRES_UID = "postgres-alerts"
JAEGER_UID = "jaeger"

PROMETHEUS_TYPE = "prometheus"
POSTGRES_TYPE = "grafana-postgresql-datasource"
JAEGER_TYPE = "jaeger"

ENVIRONMENT_VARIABLE = "environment"

PROMETHEUS = DataSourceRef(type_val=PROMETHEUS_TYPE, uid=f"${{{ENVIRONMENT_VARIABLE}}}")
POSTGRES = DataSourceRef(type_val=POSTGRES_TYPE, uid=POSTGRES_UID)


class SqlQuery(cogvariants.Dataquery):
    """A raw SQL target of Grafana's PostgreSQL datasource (``format`` is ``table`` or ``time_series``)."""

    def __init__(
        self,
        ref_id: str = "",
        raw_sql: str = "",
        format_val: str = "table",
        datasource: DataSourceRef | None = None,
        editor_mode: str = "code",
        raw_query: bool = True,
    ) -> None:
        self.ref_id = ref_id
        self.raw_sql = raw_sql
        self.format_val = format_val
        self.datasource = datasource
        self.editor_mode = editor_mode
        self.raw_query = raw_query

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "rawSql": self.raw_sql,
            "format": self.format_val,
            "editorMode": self.editor_mode,
            "rawQuery": self.raw_query,
        }
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        unknown = set(data) - {"refId", "rawSql", "format", "editorMode", "rawQuery", "datasource"}
        if unknown:
            raise ValueError(f"unknown SQL query fields {sorted(unknown)}")
        if data.get("format", "table") not in ("table", "time_series"):
            raise ValueError(f"SQL query format must be table or time_series, not {data['format']!r}")
        return cls(
            ref_id=data.get("refId", ""),
            raw_sql=data["rawSql"],
            format_val=data.get("format", "table"),
            datasource=DataSourceRef.from_json(data["datasource"]) if "datasource" in data else None,
            editor_mode=data.get("editorMode", "code"),
            raw_query=data.get("rawQuery", True),
        )


class Sql(cogbuilder.Builder[SqlQuery]):
    def __init__(self, raw_sql: str, *, time_series: bool = False) -> None:
        self._internal = SqlQuery(
            raw_sql=raw_sql, format_val="time_series" if time_series else "table", datasource=POSTGRES
        )

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def build(self) -> SqlQuery:
        return self._internal


def register_models() -> None:
    """Register the SDK's panel and query models, plus ``SqlQuery``, for loading dashboards."""
    from grafana_foundation_sdk.cog.plugins import register_default_plugins

    register_default_plugins()
    cogruntime.register_dataquery_variant(cogruntime.DataqueryConfig(POSTGRES_TYPE, SqlQuery.from_json))
