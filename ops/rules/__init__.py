"""`monitoring rules`: backtest edited rule and routing files against real history, and lint rule files.

The backtest is a pipeline of small stages, a module each: rule_files (load, parse) →
schedule (the instants Prometheus evaluates each group at) → expansion (recording rules
inlined at their groups' instants) → history (Prometheus queries) → evaluation (`for`,
`keep_firing_for`, templating) → alert_relabel (external labels) → dispatch (Alertmanager
routes, groups, inhibition) → receiver_policy (pages per channel) → diff → rendering.
"""
