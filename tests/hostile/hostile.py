"""A hostile folder plugin for the reliability tests (copied into a temporary plugins folder).

``payload`` puts HTML and script payloads in every place a plugin controls: title, summary,
notes, metric labels, table column names and cells, caption, definitions. The others misbehave
one way each: raise, hang past ``plugin_timeout``, or return malformed output.
"""

import math
import time
from typing import Any, ClassVar

import pandas as pd

from segkit.engine.analysis import Metric, Section, Table
from segkit.engine.hookspecs import hookimpl

__version__ = "6.6.6"

#: Each would run script or fetch from the network if it reached the page unescaped.
PAYLOADS = (
    "<script>alert('x')</script>",
    '"onerror="alert(1)',
    "<img src=http://evil.example/pixel.png onerror=alert(2)>",
    "</pre></table><script>alert(3)</script>",
)


class Base:
    defaults: ClassVar[dict[str, Any]] = {}
    definitions: ClassVar[dict[str, str]] = {}
    requires: tuple[str, ...] = ()

    def __init__(self, name, order=900):
        self.name, self.title, self.order = name, f"Hostile {name}", order


class Payload(Base):
    definitions: ClassVar[dict[str, str]] = {PAYLOADS[0]: PAYLOADS[1]}

    def run(self, ctx):
        p = PAYLOADS
        frame = pd.DataFrame({p[0]: [p[1], p[2]], p[3]: [p[0], p[3]]})
        return Section(
            self.name,
            f"{p[0]} {p[1]}",
            summary=p[2],
            notes=[p[3], p[0]],
            metrics=[Metric("m", p[0], 1.0, headline=True), Metric("n", p[1], 2.0)],
            tables={"t": Table(frame, caption=p[2]), "people": self.people(ctx)},
        )

    @staticmethod
    def people(ctx):
        """Identifiers and personal columns, for the report to mask."""
        if not ctx.has("customers"):
            return Table(pd.DataFrame({"customer_id": []}))
        customers = ctx.table("customers")
        personal = [c for c in ("name", "email") if c in customers.columns]
        return Table(customers[["customer_id", *personal]].head(20))


class Raises(Base):
    def run(self, ctx):
        raise RuntimeError(PAYLOADS[0])


#: Long past any timeout the tests set, short enough that an abandoned thread ends soon.
HANG_SECONDS = 4


class Hangs(Base):
    def run(self, ctx):
        try:
            time.sleep(HANG_SECONDS)
        except Exception:  # a careless plugin: must not keep it from being stopped
            time.sleep(HANG_SECONDS)


class NotASection(Base):
    def run(self, ctx):
        return {"title": "a dict"}


class NanMetric(Base):
    def run(self, ctx):
        return Section(self.name, self.title, metrics=[Metric("bad", "Bad", math.nan)])


class ListTable(Base):
    def run(self, ctx):
        return Section(self.name, self.title, tables={"t": Table([[1, 2]])})


@hookimpl
def register_analyses(register):
    register(Payload("payload", order=901))
    for cls in (Raises, Hangs, NotASection, NanMetric, ListTable):
        register(cls(cls.__name__.lower()))
