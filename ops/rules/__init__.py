"""`monitoring rules`: backtest edited rule and routing files against real history, and lint rule files.

The backtest is a pipeline of small stages, a module each: rule_files (load, parse) →
expansion (recording rules inlined) → history (Prometheus queries) → evaluation (`for`,
`keep_firing_for`, templating) → alert_relabel (external labels) → dispatch (Alertmanager
routes, groups, inhibition) → receiver_policy (pages per channel) → diff → rendering.
"""
