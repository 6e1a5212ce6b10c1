"""Plugin discovery and isolation: where plugins come from and how their failures are contained.

Every expected number below is worked out by hand from the small data set written by
:func:`data_dir` (see its docstring), never taken from the code under test.
"""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

import segkit
from segkit.config import Config
from segkit.data.load import Dataset, load_dataset
from segkit.engine import plugins as plugins_module
from segkit.engine.context import PeriodContext
from segkit.engine.plugins import ENV_LOAD, PluginManager
from segkit.engine.run import PeriodReport, run_period
from segkit.periods import Period, parse_period

PARETO = "segkit.analyses.pareto"
Q1 = parse_period("2024-Q1")

# Header shared by the plugin files written below: one analysis class built from arguments.
PLUGIN_HEADER = """
from segkit.engine.analysis import Metric, Section
from segkit.engine.hookspecs import hookimpl


class Simple:
    defaults = {}
    definitions = {}

    def __init__(self, name, order=50, requires=(), compute=None):
        self.name, self.title, self.order = name, name.title(), order
        self.requires = tuple(requires)
        self.compute = compute or (lambda ctx: 1.0)

    def run(self, ctx):
        value = self.compute(ctx)
        return Section(self.name, self.title, metrics=[Metric("value", "Value", value)],
                       data={"value": value})
"""


#: The real built-ins, before the fixture below narrows them.
BUILTINS = plugins_module.DEFAULT_PLUGINS


@pytest.fixture(autouse=True)
def _known_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pareto as the only built-in, and no ``SEGKIT_LOAD_PLUGINS`` whatever the shell has.

    The tests are about discovery and isolation, with Pareto as the reference built-in whose
    figures are worked out by hand; other built-ins would only add sections to every list.
    """
    monkeypatch.setattr(plugins_module, "DEFAULT_PLUGINS", (PARETO,))
    monkeypatch.delenv(ENV_LOAD, raising=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Transactions of six clients.

    2024-Q1 (2024-01-01 <= date < 2024-04-01): A 100, B 50, C 30, D 20 - 5 returned = 15, E 5;
    net total 200 over 5 clients. F bought 40 in 2023-Q4 only; A buys 1000 more in 2024-Q2,
    after the Q1 cut-off. Rows known before the Q1 end: 7 (all but A's April purchase).
    """
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "transactions.csv").write_text(
        "customer_id,date,amount\n"
        "F,2023-11-20,40\n"
        "A,2024-01-10,100\n"
        "B,2024-01-20,50\n"
        "C,2024-02-05,30\n"
        "D,2024-02-15,20\n"
        "D,2024-03-10,-5\n"
        "E,2024-03-01,5\n"
        "A,2024-04-02,1000\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def dataset(data_dir: Path) -> Dataset:
    return load_dataset(data_dir, Config())


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    return folder


def write_plugin(folder: Path, name: str, body: str, header: bool = True) -> Path:
    path = folder / f"{name}.py"
    text = (PLUGIN_HEADER if header else "") + textwrap.dedent(body)
    path.write_text(text, encoding="utf-8")
    return path


def metric(report: PeriodReport, section: str, key: str) -> float | None:
    return next(m.value for m in report.section(section).metrics if m.key == key)


# -- built-ins -----------------------------------------------------------------------------
def test_every_builtin_loads_as_built_in(
    plugins_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugins_module, "DEFAULT_PLUGINS", BUILTINS)
    pm = PluginManager(plugins_dir, entry_points=False)
    assert PARETO in BUILTINS
    assert [(i.name, i.source) for i in pm.info()] == [(n, "built-in") for n in sorted(BUILTINS)]
    assert ("pareto", PARETO) in [(r.analysis.name, r.plugin) for r in pm.analyses()]
    assert pm.errors == {}


def test_builtin_pareto_is_registered_with_its_plugin_name(plugins_dir: Path) -> None:
    pm = PluginManager(plugins_dir, entry_points=False)
    [reg] = pm.analyses()
    assert (reg.analysis.name, reg.plugin) == ("pareto", PARETO)
    [info] = pm.info()
    assert (info.name, info.version, info.hooks, info.source) == (
        PARETO,
        segkit.__version__,
        ("register_analyses",),
        "built-in",
    )
    assert pm.errors == {}


def test_pareto_on_small_data(dataset: Dataset, plugins_dir: Path) -> None:
    report = run_period(dataset, Q1, PluginManager(plugins_dir, entry_points=False))
    pareto = report.section("pareto")
    assert pareto.error is None
    assert pareto.plugin == PARETO
    # ceil(0.2 x 5) = 1 top client (A, 100) of a 200 total; a quarter earlier F alone: 40/40.
    assert metric(report, "pareto", "top_share") == pytest.approx(0.5)
    assert pareto.metrics[2].previous == pytest.approx(1.0)
    assert metric(report, "pareto", "clients") == 5
    assert metric(report, "pareto", "net_value") == pytest.approx(200.0)
    assert metric(report, "pareto", "returns") == pytest.approx(-5.0)


# -- the plugins folder --------------------------------------------------------------------
def test_folder_plugin_adds_a_section(dataset: Dataset, plugins_dir: Path) -> None:
    path = write_plugin(
        plugins_dir,
        "rows",
        """
        __version__ = "0.3"

        @hookimpl
        def register_analyses(register):
            register(Simple("row_count", compute=lambda ctx: float(len(ctx.table("transactions")))))
        """,
    )
    (plugins_dir / "_private.py").write_text("raise RuntimeError('never imported')\n")
    pm = PluginManager(plugins_dir, entry_points=False)
    report = run_period(dataset, Q1, pm)
    assert [s.name for s in report.sections] == ["pareto", "row_count"]
    section = report.section("row_count")
    assert (section.plugin, section.error) == ("rows", None)
    # As of the Q1 end: 7 rows; A's April purchase is not known yet.
    assert metric(report, "row_count", "value") == 7.0
    info = {i.name: i for i in pm.info()}
    assert (info["rows"].source, info["rows"].version) == (str(path), "0.3")
    assert pm.errors == {}


def test_folder_plugin_that_cannot_be_imported_is_recorded(plugins_dir: Path) -> None:
    write_plugin(plugins_dir, "typo", "def oops(:\n", header=False)
    write_plugin(
        plugins_dir,
        "fine",
        """
        @hookimpl
        def register_analyses(register):
            register(Simple("fine"))
        """,
    )
    pm = PluginManager(plugins_dir, entry_points=False)
    assert set(pm.errors) == {"typo"}
    assert pm.errors["typo"].startswith("could not be loaded from ")
    assert "SyntaxError" in pm.errors["typo"]
    assert [r.analysis.name for r in pm.analyses()] == ["pareto", "fine"]


# -- entry points --------------------------------------------------------------------------
def install_fake_distribution(site: Path, module: str, version: str, entry_points: str) -> None:
    """A minimal installed distribution: a module and its ``.dist-info`` with entry points."""
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(
        PLUGIN_HEADER
        + textwrap.dedent(
            f"""
            @hookimpl
            def register_analyses(register):
                register(Simple("{module}_analysis", order=70))
            """
        ),
        encoding="utf-8",
    )
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")


def test_entry_point_plugin_loads_through_importlib_metadata(
    dataset: Dataset, plugins_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    install_fake_distribution(
        site,
        "segkit_ep_demo",
        "1.2.3",
        "[segkit]\nep_demo = segkit_ep_demo\nep_broken = segkit_ep_no_such_module\n",
    )
    monkeypatch.syspath_prepend(str(site))
    pm = PluginManager(plugins_dir)
    info = {i.name: i for i in pm.info()}
    assert (info["ep_demo"].source, info["ep_demo"].version) == ("entry point", "1.2.3")
    assert info["ep_demo"].hooks == ("register_analyses",)
    assert "ep_broken" not in info
    assert pm.errors["ep_broken"].startswith("could not be loaded: ModuleNotFoundError")
    section = run_period(dataset, Q1, pm).section("segkit_ep_demo_analysis")
    assert (section.plugin, section.error) == ("ep_demo", None)


# -- SEGKIT_LOAD_PLUGINS ---------------------------------------------------------------------
def test_env_var_limits_entry_point_and_folder_plugins(
    plugins_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("alpha", "beta"):
        write_plugin(
            plugins_dir,
            name,
            f"""
            @hookimpl
            def register_analyses(register):
                register(Simple("{name}"))
            """,
        )
    site = tmp_path / "site"
    install_fake_distribution(site, "segkit_ep_one", "1.0", "[segkit]\nep_one = segkit_ep_one\n")
    install_fake_distribution(site, "segkit_ep_two", "2.0", "[segkit]\nep_two = segkit_ep_two\n")
    monkeypatch.syspath_prepend(str(site))

    monkeypatch.setenv(ENV_LOAD, " alpha , ep_two ")
    pm = PluginManager(plugins_dir)
    assert {i.name for i in pm.info()} == {PARETO, "alpha", "ep_two"}
    assert [r.analysis.name for r in pm.analyses()] == ["pareto", "alpha", "segkit_ep_two_analysis"]

    # Empty: built-ins only.
    monkeypatch.setenv(ENV_LOAD, "")
    assert [i.name for i in PluginManager(plugins_dir).info()] == [PARETO]

    monkeypatch.delenv(ENV_LOAD)
    names = {i.name for i in PluginManager(plugins_dir).info()}
    assert {PARETO, "alpha", "beta", "ep_one", "ep_two"} <= names


# -- unknown hooks -------------------------------------------------------------------------
def test_plugin_with_unknown_hook_is_warned_about_and_not_loaded(plugins_dir: Path) -> None:
    write_plugin(
        plugins_dir,
        "widgets",
        """
        @hookimpl
        def register_widgets(register):
            register("gauge")

        @hookimpl
        def register_analyses(register):
            register(Simple("widget_analysis"))
        """,
    )
    with pytest.warns(UserWarning, match=r"plugin 'widgets' implements unknown hook\(s\) "):
        pm = PluginManager(plugins_dir, entry_points=False)
    assert not pm.pm.has_plugin("widgets")
    assert [i.name for i in pm.info()] == [PARETO]
    assert [r.analysis.name for r in pm.analyses()] == ["pareto"]


# -- failures at run time ------------------------------------------------------------------
def test_failing_analysis_becomes_an_error_section_and_others_still_run(
    dataset: Dataset, plugins_dir: Path
) -> None:
    write_plugin(
        plugins_dir,
        "boom",
        """
        def divide(ctx):
            return 1 / 0

        @hookimpl
        def register_analyses(register):
            register(Simple("exploding", order=1, compute=divide))
        """,
    )
    report = run_period(dataset, Q1, PluginManager(plugins_dir, entry_points=False))
    [failed] = report.failed
    assert (failed.name, failed.plugin, failed.metrics) == ("exploding", "boom", [])
    assert failed.error is not None
    assert failed.error.startswith(
        "analysis 'exploding' of plugin 'boom' failed: ZeroDivisionError: division by zero"
    )
    assert "divide" in failed.error  # the traceback's last frames point at the plugin code
    assert report.section("pareto").error is None
    assert metric(report, "pareto", "top_share") == pytest.approx(100 / 200)


def test_analysis_cannot_change_the_data_the_next_one_sees(
    dataset: Dataset, plugins_dir: Path
) -> None:
    write_plugin(
        plugins_dir,
        "vandal",
        """
        def scribble(ctx):
            frame = ctx.table("transactions")
            frame["amount"] = 0.0
            frame.drop(frame.index[:3], inplace=True)
            return 0.0

        def total(ctx):
            return float(ctx.table("transactions")["amount"].sum())

        @hookimpl
        def register_analyses(register):
            register(Simple("scribbler", order=1, compute=scribble))
            register(Simple("reader", order=2, compute=total))
        """,
    )
    report = run_period(dataset, Q1, PluginManager(plugins_dir, entry_points=False))
    # Rows known before 2024-04-01: 40 + 100 + 50 + 30 + 20 - 5 + 5 = 240.
    assert metric(report, "reader", "value") == pytest.approx(240.0)


def test_as_of_tables_have_every_contract_column(dataset: Dataset) -> None:
    ctx = PeriodContext(dataset, Period(date(2024, 1, 1), "month"), {})
    frame = ctx.table("transactions")
    # January 2024 ends 2024-02-01: F's and A's and B's rows are known then.
    assert sorted(frame["customer_id"]) == ["A", "B", "F"]
    assert {"order_id", "margin", "cost", "channel"} <= set(frame.columns)
    assert frame["order_id"].isna().all()
    tx = ctx.view("transactions")
    orders = ctx.execute(tx.aggregate(n=tx.order_id.count()))
    assert int(orders["n"].iloc[0]) == 0


# -- failures while registering ------------------------------------------------------------
def test_register_hook_that_raises_is_recorded_and_others_load(plugins_dir: Path) -> None:
    write_plugin(
        plugins_dir,
        "broken",
        """
        @hookimpl
        def register_analyses(register):
            raise RuntimeError("licence expired")

        @hookimpl
        def register_fund_rules(register):
            raise KeyError("budget")
        """,
    )
    write_plugin(
        plugins_dir,
        "fine",
        """
        @hookimpl
        def register_analyses(register):
            register(Simple("fine"))

        @hookimpl
        def register_fund_rules(register):
            register("equal", lambda clients, budget: None)
        """,
    )
    pm = PluginManager(plugins_dir, entry_points=False)
    assert [(r.analysis.name, r.plugin) for r in pm.analyses()] == [
        ("pareto", PARETO),
        ("fine", "fine"),
    ]
    assert pm.errors == {"broken": "register_analyses failed: RuntimeError: licence expired"}
    assert list(pm.fund_rules()) == ["equal"]
    assert pm.errors["broken"] == "register_fund_rules failed: KeyError: 'budget'"


def test_registering_an_object_that_is_not_an_analysis_is_an_error(plugins_dir: Path) -> None:
    write_plugin(
        plugins_dir,
        "halfway",
        """
        class NoRun:
            name, title, order, defaults, requires, definitions = "x", "X", 1, {}, (), {}

        @hookimpl
        def register_analyses(register):
            register(NoRun())
        """,
    )
    pm = PluginManager(plugins_dir, entry_points=False)
    assert [r.analysis.name for r in pm.analyses()] == ["pareto"]
    assert pm.errors["halfway"] == (
        "register_analyses failed: TypeError: plugin 'halfway' registered an analysis without run"
    )


def test_duplicate_analysis_names(dataset: Dataset, plugins_dir: Path) -> None:
    write_plugin(
        plugins_dir,
        "copycat",
        """
        @hookimpl
        def register_analyses(register):
            register(Simple("pareto", order=1, compute=lambda ctx: -1.0))
        """,
    )
    # Folder plugins register in file-name order: aa's "shared" comes first and is kept.
    for name in ("aa", "bb"):
        write_plugin(
            plugins_dir,
            name,
            """
            @hookimpl
            def register_analyses(register):
                register(Simple("shared"))
            """,
        )
    pm = PluginManager(plugins_dir, entry_points=False)
    assert [(r.analysis.name, r.plugin) for r in pm.analyses()] == [
        ("pareto", PARETO),
        ("shared", "aa"),
    ]
    assert pm.errors == {
        "copycat": "register_analyses failed: ValueError: analysis 'pareto' is already "
        f"registered by plugin '{PARETO}'",
        "bb": "register_analyses failed: ValueError: analysis 'shared' is already "
        "registered by plugin 'aa'",
    }
    report = run_period(dataset, Q1, pm)
    # The refused registrations are shown in the report as failed sections, last.
    assert [s.name for s in report.sections] == ["pareto", "shared", "plugin:bb", "plugin:copycat"]
    assert [s.error for s in report.failed] == [pm.errors["bb"], pm.errors["copycat"]]
    assert metric(report, "pareto", "top_share") == pytest.approx(0.5)


def test_duplicate_fund_rule_names(plugins_dir: Path) -> None:
    for name in ("first", "second"):
        write_plugin(
            plugins_dir,
            name,
            f"""
            @hookimpl
            def register_fund_rules(register):
                register("flat", "{name}")
            """,
        )
    pm = PluginManager(plugins_dir, entry_points=False)
    assert pm.fund_rules() == {"flat": "first"}
    assert pm.errors == {
        "second": "register_fund_rules failed: ValueError: fund rule 'flat' is already "
        "registered by plugin 'first'"
    }


# -- requires ------------------------------------------------------------------------------
def test_requires_orders_analyses_and_skips_dependents_of_failures(
    dataset: Dataset, plugins_dir: Path
) -> None:
    write_plugin(
        plugins_dir,
        "chain",
        """
        def period_total(ctx):
            import ibis

            tx = ctx.view("transactions")
            start = ibis.timestamp(ctx.period.start)
            total = tx.filter(tx.date >= start).aggregate(total=tx.amount.sum())
            return float(ctx.execute(total)["total"].iloc[0])

        def double_base(ctx):
            return 2 * ctx.results["base"].data["value"]

        def fail(ctx):
            raise ValueError("no data")

        @hookimpl
        def register_analyses(register):
            # "doubled" is listed, and ordered, before the "base" it reads.
            register(Simple("doubled", order=1, requires=["base"], compute=double_base))
            register(Simple("base", order=5, compute=period_total))
            register(Simple("orphan", order=6, requires=["nowhere"]))
            register(Simple("fragile", order=7, compute=fail))
            register(Simple("after_fragile", order=8, requires=["fragile"]))
            register(Simple("third", order=9, requires=["after_fragile"]))
        """,
    )
    pm = PluginManager(plugins_dir, entry_points=False)
    order = [r.analysis.name for r in pm.ordered_analyses()]
    assert order.index("base") < order.index("doubled")
    assert order.index("after_fragile") < order.index("third")

    report = run_period(dataset, Q1, pm)
    # Report order follows ``order``, not run order.
    assert [s.name for s in report.sections] == [
        "doubled",
        "base",
        "orphan",
        "fragile",
        "after_fragile",
        "third",
        "pareto",
    ]
    # Q1 net: 100 + 50 + 30 + 20 - 5 + 5 = 200; doubled reads it from base's section.
    assert metric(report, "base", "value") == pytest.approx(200.0)
    assert metric(report, "doubled", "value") == pytest.approx(400.0)
    assert report.section("orphan").error == "skipped: needs nowhere, which did not run"
    assert report.section("after_fragile").error == "skipped: needs fragile, which did not run"
    assert report.section("third").error == "skipped: needs after_fragile, which did not run"
    assert {s.name for s in report.failed} == {"orphan", "fragile", "after_fragile", "third"}


def test_as_of_customers_without_the_optional_signup_date(
    data_dir: Path, plugins_dir: Path
) -> None:
    # customers.signup_date is the table's as-of event column but optional: without it every
    # customer row is known at any cut-off, and the column is there, empty.
    (data_dir / "customers.csv").write_text(
        "customer_id,name\nA,Ann\nB,Bob\nC,Cy\nD,Di\nE,Ed\nF,Flo\n", encoding="utf-8"
    )
    dataset = load_dataset(data_dir, Config())
    ctx = PeriodContext(dataset, Q1, {})
    customers = ctx.table("customers")
    assert sorted(customers["name"]) == ["Ann", "Bob", "Cy", "Di", "Ed", "Flo"]
    assert customers["signup_date"].isna().all()
    # Pareto's top table looks the names up through that view.
    report = run_period(dataset, Q1, PluginManager(plugins_dir, entry_points=False))
    top = report.section("pareto").tables["top"].frame
    assert top["name"].tolist() == ["Ann", "Bob", "Cy", "Di", "Ed"]
