"""A hand-built data folder for the tier, service-fund and scorecard tests.

Report period 2024-Q4 (end 2025-01-01); rated clients have a purchase on or after 2024-01-01.

=====  ==========  ===========  ===========  =========================  =====  =======  ====
id     signup      income_band  company_sz   purchases (2024)           net    aov      NPS
=====  ==========  ===========  ===========  =========================  =====  =======  ====
A      2022-01-01  high         1000+        03-01 500, 11-01 500       1000   500      9
B      2024-10-01  high         1000+        11-15 1000                 1000   1000     10
C      2023-06-01  middle       50-249       02-01, 05-01, 10-01: 100   300    100      -
D      2024-12-01  -            -            12-10 200                  200    200      CSAT 4
E      2021-01-01  low          1-9          07-01 100                  100    100      3
F      2024-01-01                            08-01 -50 (a return only)  -50
G      2023-06-01                            2023-06-01 80 (lapsed)     0
=====  ==========  ===========  ===========  =========================  =====  =======  ====

Tenure to 2025-01-01: A 1096 days, B 92, C 580 (366 to 2024-06-01 + 214), D 31, E 1461.
F has no purchase (only a return) and G none in the twelve months: neither is rated, so the
rated clients are A-E. No margin column: margins are the revenues.
"""

from __future__ import annotations

from pathlib import Path

TRANSACTIONS = """customer_id,date,amount,order_id
A,2024-03-01,500,o1
A,2024-11-01,500,o2
B,2024-11-15,1000,o3
C,2024-02-01,100,o4
C,2024-05-01,100,o5
C,2024-10-01,100,o6
D,2024-12-10,200,o7
E,2024-07-01,100,o8
F,2024-08-01,-50,o9
G,2023-06-01,80,o10
"""

CUSTOMERS = """customer_id,signup_date,income_band,company_size
A,2022-01-01,high,1000+
B,2024-10-01,high,1000+
C,2023-06-01,middle,50-249
D,2024-12-01,,
E,2021-01-01,low,1-9
F,2024-01-01,,
G,2023-06-01,,
"""

SURVEYS = """customer_id,date,nps,csat
A,2024-11-05,9,
B,2024-11-20,10,
D,2024-12-15,,4
E,2024-07-05,3,
"""


def write(folder: Path, config: str = "") -> Path:
    """Write the data (and ``config`` as segkit.yaml, if given) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "transactions.csv").write_text(TRANSACTIONS)
    (folder / "customers.csv").write_text(CUSTOMERS)
    (folder / "surveys.csv").write_text(SURVEYS)
    if config:
        (folder / "segkit.yaml").write_text(config)
    return folder
