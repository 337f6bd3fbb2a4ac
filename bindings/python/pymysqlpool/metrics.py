"""The pool's stats as Prometheus metrics: text exposition format (no
dependency), or a collector for prometheus_client when it is installed.

    print(pool.stats_text())                     # for any /metrics handler
    prometheus_client.REGISTRY.register(PoolCollector(pool))
"""

# (stats key, metric name, type, help, label); keys sharing a metric name
# become one family, told apart by the label.
_METRICS = [
    ("total", "mysqlpool_connections", "gauge", "Connections by state.", ("state", "open")),
    ("idle", "mysqlpool_connections", "gauge", None, ("state", "idle")),
    ("in_use", "mysqlpool_connections", "gauge", None, ("state", "in_use")),
    ("opening", "mysqlpool_connections", "gauge", None, ("state", "opening")),
    ("waiting", "mysqlpool_waiting_callers", "gauge", "Callers waiting for a connection now.", None),
    ("size", "mysqlpool_size", "gauge", "Configured size (connections kept).", None),
    ("maxsize", "mysqlpool_maxsize", "gauge", "Configured maxsize (hard cap).", None),
    ("created", "mysqlpool_connections_created_total", "counter", "Connections opened.", None),
    ("connect_failures", "mysqlpool_connect_failures_total", "counter", "Failed attempts to open one.", None),
    ("closed_lifetime", "mysqlpool_connections_closed_total", "counter", "Connections closed, by reason.",
     ("reason", "lifetime")),
    ("closed_idle", "mysqlpool_connections_closed_total", "counter", None, ("reason", "idle")),
    ("closed_broken", "mysqlpool_connections_closed_total", "counter", None, ("reason", "broken")),
    ("closed_validation", "mysqlpool_connections_closed_total", "counter", None, ("reason", "validation")),
    ("closed_overflow", "mysqlpool_connections_closed_total", "counter", None, ("reason", "overflow")),
    ("closed_discarded", "mysqlpool_connections_closed_total", "counter", None, ("reason", "discarded")),
    ("closed_shutdown", "mysqlpool_connections_closed_total", "counter", None, ("reason", "shutdown")),
    ("gets", "mysqlpool_gets_total", "counter", "Connections handed out.", None),
    ("releases", "mysqlpool_releases_total", "counter", "Connections given back.", None),
    ("wait_count", "mysqlpool_waits_total", "counter", "Gets that had to wait.", None),
    ("timeouts", "mysqlpool_timeouts_total", "counter", "Gets that gave up (pool exhausted).", None),
    ("resets", "mysqlpool_resets_total", "counter", "Returns that needed a round trip to reset.", None),
    ("pings", "mysqlpool_pings_total", "counter", "COM_PINGs run by the pool.", None),
    ("leaks", "mysqlpool_leaks_total", "counter", "Borrows reported as possible leaks.", None),
    ("stmt_prepares", "mysqlpool_stmt_prepares_total", "counter", "Statements prepared on the server.", None),
    ("stmt_cache_hits", "mysqlpool_stmt_cache_hits_total", "counter",
     "Prepared statements served from a connection's cache.", None),
    ("stmt_evictions", "mysqlpool_stmt_evictions_total", "counter", "Cached prepared statements closed to make room.",
     None),
]
_SECONDS = [
    ("wait_time_ns", "mysqlpool_wait_seconds_total", "counter", "Time spent waiting for a connection."),
    ("max_wait_ns", "mysqlpool_max_wait_seconds", "gauge", "Longest single wait."),
]


def _families(stats):
    """(name, type, help, [(labels, value)]) per metric family, in order."""
    families = {}
    for key, name, kind, text, label in _METRICS:
        family = families.setdefault(name, [kind, text, []])
        family[2].append(((label,) if label else (), float(stats[key])))
    for key, name, kind, text in _SECONDS:
        families[name] = [kind, text, [((), stats[key] / 1e9)]]
    return [(name, kind, text, samples) for name, (kind, text, samples) in families.items()]


def _escape(value):
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value):
    return repr(int(value)) if float(value).is_integer() else repr(value)


def stats_text(pool):
    """Prometheus text exposition (version 0.0.4) of one pool's stats."""
    pool_label = f'pool="{_escape(pool.name)}"'
    lines = []
    for name, kind, text, samples in _families(pool.stats()):
        lines.append(f"# HELP {name} {text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            extra = "".join(f',{key}="{_escape(val)}"' for key, val in labels)
            lines.append(f"{name}{{{pool_label}{extra}}} {_number(value)}")
    return "\n".join(lines) + "\n"


class PoolCollector:
    """A prometheus_client collector for one or more pools (imported only
    when used: prometheus_client is optional)."""

    def __init__(self, *pools):
        self.pools = pools

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        merged = {}
        for pool in self.pools:
            for name, kind, text, samples in _families(pool.stats()):
                entry = merged.setdefault(name, (kind, text, []))
                entry[2].extend(((("pool", pool.name),) + labels, value) for labels, value in samples)
        for name, (kind, text, samples) in merged.items():
            label_names = [key for key, _ in samples[0][0]]
            if kind == "counter":
                family = CounterMetricFamily(name[: -len("_total")], text, labels=label_names)
            else:
                family = GaugeMetricFamily(name, text, labels=label_names)
            for labels, value in samples:
                family.add_metric([val for _, val in labels], value)
            yield family
