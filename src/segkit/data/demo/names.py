"""Display names: companies and people from several locales, plus deliberately hostile names.

The hostile names exist so that every report's HTML/CSV escaping is exercised by the demo.
"""

from __future__ import annotations

import numpy as np

#: Names that break naive HTML, attribute, spreadsheet-formula or CSV handling.
HOSTILE_NAMES = (
    "<script>alert('x')</script> GmbH",
    "Bold <b>&</b> Sons",
    '"onerror="alert(1)',
    '=HYPERLINK("http://example.invalid","click")',
    "Smith, Jones & Partners\nLtd",
    "{{ 7*7 }} Templates Ltd",
    "'; DROP TABLE customers; -- LLC",
)

FIRST_NAMES = (
    "Anna", "Oleksandr", "Maria", "Taras", "Olena", "Dmytro", "Iryna", "Andrii", "Sofia", "Ivan",
    "Emma", "Lukas", "Mia", "Jonas", "Laura", "James", "Olivia", "Noah", "Grace", "Ethan",
    "Wei", "Li", "Fang", "Jun", "Mei", "Hao", "Ольга", "Петро", "Наталія", "Богдан",
)  # fmt: skip
LAST_NAMES = (
    "Shevchenko", "Kovalenko", "Bondarenko", "Tkachenko", "Kravchenko", "Melnyk", "Boyko",
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Smith", "Johnson", "Brown", "Taylor",
    "Wilson", "O'Brien", "Zhang", "Wang", "Chen", "Liu", "Коваль", "Шевчук", "Гнатюк",
)  # fmt: skip
COMPANY_STEMS = (
    "Acme", "Nordwind", "Dnipro", "Karpaty", "Sokil", "Polissia", "Huaxia", "Changjiang",
    "Bluefield", "Ironbridge", "Silverline", "Greenway", "Redstone", "Northstar", "Oakridge",
    "Суми", "Лан", "Вектор", "Delta", "Omega", "Vega", "Orion", "Atlas", "Helix", "Pioneer",
)  # fmt: skip
COMPANY_CORES = (
    "Tech", "Logistics", "Foods", "Systems", "Trade", "Build", "Energy", "Med", "Print",
    "Agro", "Soft", "Metal", "Textile", "Consulting", "Retail",
)  # fmt: skip
COMPANY_SUFFIXES = (
    "GmbH", "LLC", "Ltd", "TOV", "AG", "S.A.", "Sp. z o.o.", "Co., Ltd.", "Inc.", "& Co",
)  # fmt: skip
CHINESE_COMPANIES = ("北京华信科技有限公司", "上海东方贸易有限公司", "深圳创新电子有限公司")


def draw_names(
    rng: np.random.Generator, n: int, company_share: float, chinese_share: float
) -> list[str]:
    """``n`` names: a company with probability ``company_share``, else a person.

    A ``chinese_share`` of companies have Chinese names; the hostile names replace randomly
    chosen customers.
    """
    is_company = rng.random(n) < company_share
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    stem = rng.integers(0, len(COMPANY_STEMS), n)
    core = rng.integers(0, len(COMPANY_CORES), n)
    suffix = rng.integers(0, len(COMPANY_SUFFIXES), n)
    chinese = rng.random(n) < chinese_share
    names = [
        (
            CHINESE_COMPANIES[i % len(CHINESE_COMPANIES)]
            if chinese[i]
            else f"{COMPANY_STEMS[stem[i]]} {COMPANY_CORES[core[i]]} {COMPANY_SUFFIXES[suffix[i]]}"
        )
        if is_company[i]
        else f"{FIRST_NAMES[first[i]]} {LAST_NAMES[last[i]]}"
        for i in range(n)
    ]
    hostile_at = rng.choice(n, size=min(n, len(HOSTILE_NAMES)), replace=False)
    for name, at in zip(HOSTILE_NAMES, np.sort(hostile_at), strict=False):
        names[at] = name
    return names
