"""The benchmark's charts (PNG, matplotlib, the ``bench`` extra): what the tables say, drawn.

* capacity per Kea configuration of one family, each bar beside the no-hook and ISC rows of
  its run (grey and orange; this hook's rows blue), the best pass of each row;
* capacity against the leases Kea holds (the lease-database rows and their empty-Kea twins),
  one line per configuration.

Drawn from the results of one run (``results.json`` beside ``result.md``), so a run's charts can
be drawn again without measuring (``kea-runscript bench --charts-from FILE``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .rows import SCRIPT_LABELS, Row

COLOURS = {"none": "#9e9e9e", "isc": "#ef6c00", "runscript": "#1565c0", "isc-config": "#1565c0"}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    return plt


def result_records(results) -> List[dict]:
    """One plain record per measured row (what the charts and results.json need)."""
    out = []
    for res in results.values():
        r = res.row
        caps = [res.capacity(i) for i in range(len(res.passes))]
        out.append({"key": r.key, "label": r.label, "family": r.family, "hook": r.hook, "mt": r.mt,
                    "script": "" if r.hook == "none" else SCRIPT_LABELS[r.script],
                    "leases": r.leases, "twin": _twin_key(r), "capacities": caps,
                    # as the tables show each pass: "≥N" when no trial failed (a lower bound)
                    "shown": [p.show() for p in res.passes]})
    return out


def _twin_key(r: Row) -> str:
    return Row(r.family, r.hook, r.mt, r.script, r.wait, r.points, park=r.park).key


def _best(rec: dict) -> Optional[int]:
    caps = [c for c in rec["capacities"] if c]
    return max(caps) if caps else None


def _shown(rec: dict) -> str:
    """The best pass as the tables show it ("≥N" for a lower bound)."""
    best = _best(rec)
    shown = [t for c, t in zip(rec["capacities"], rec.get("shown") or []) if c == best]
    return shown[0] if shown else str(best)


def save_results(records: Sequence[dict], path: Path, title: str, stem: str) -> None:
    path.write_text(json.dumps({"title": title, "stem": stem, "rows": list(records)}, indent=1) + "\n")


def load_results(path: Path) -> tuple:
    """(title, file stem of the charts, records) of a run's results.json."""
    data = json.loads(path.read_text())
    return data["title"], data["stem"], data["rows"]


def capacity_chart(records: Sequence[dict], family: int, path: Path, title: str) -> Optional[Path]:
    """Horizontal bars, one per configuration of `family` with an empty Kea; None when none."""
    rows = [r for r in records if r["family"] == family and not r["leases"] and _best(r)]
    if not rows:
        return None
    plt = _pyplot()
    exch = "DORA" if family == 4 else "SARR"
    labels = [f"{r['label']}, MT {'on' if r['mt'] else 'off'}" + (f" ({r['script']})" if r["script"] else "")
              for r in rows]
    values = [_best(r) for r in rows]
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(rows) + 1.6))
    bars = ax.barh(range(len(rows)), values, color=[COLOURS.get(r["hook"], "#1565c0") for r in rows])
    for bar, r in zip(bars, rows):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {_shown(r)}", va="center", fontsize=8)
    ax.set_xlim(0, max(values) * 1.12)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"capacity, {exch}/s (≤ 1 % lost; best pass; ≥: no trial failed, a lower bound)")
    ax.set_title(f"DHCPv{family}: {title}", fontsize=9, pad=22)
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLOURS[k]) for k in ("none", "isc", "runscript")]
    ax.legend(handles, ["no hook", "ISC run_script", "this hook"], fontsize=8, ncol=3,
              loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def lease_chart(records: Sequence[dict], path: Path, title: str) -> Optional[Path]:
    """Capacity against leases held, one line per configuration measured with a lease database
    (its empty-Kea twin gives the point at 0); None when the run had no lease rows."""
    by_key: Dict[str, dict] = {r["key"]: r for r in records}
    lines: Dict[str, List[tuple]] = {}
    hooks: Dict[str, str] = {}
    for r in records:
        if not r["leases"] or not _best(r):
            continue
        name = f"{r['label']}, MT {'on' if r['mt'] else 'off'}" + (f" ({r['script']})" if r["script"] else "")
        hooks[name] = r["hook"]
        pts = lines.setdefault(name, [])
        twin = by_key.get(r["twin"])
        if twin and _best(twin) and all(x != 0 for x, _, _ in pts):
            pts.append((0, _best(twin), _shown(twin)))
        pts.append((r["leases"], _best(r), _shown(r)))
    if not lines:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))
    styles = ["-", "--", ":", "-."]
    for i, (name, pts) in enumerate(sorted(lines.items())):
        pts.sort()
        ax.plot([x for x, _, _ in pts], [y for _, y, _ in pts], marker="o", label=name,
                color=COLOURS.get(hooks[name], "#1565c0"), linestyle=styles[i % len(styles)])
        for x, y, shown in pts:
            ax.annotate(shown, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel("leases Kea holds (memfile loaded at start)")
    ax.set_ylabel("capacity, exchanges/s (≤ 1 % lost; ≥: a lower bound)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw(records: Sequence[dict], directory: Path, stem: str, title: str) -> List[Path]:
    """Every chart the records allow, as <directory>/<stem>-v4.png, -v6.png, -leases.png."""
    directory.mkdir(parents=True, exist_ok=True)
    made = [capacity_chart(records, fam, directory / f"{stem}-v{fam}.png", title) for fam in (4, 6)]
    made.append(lease_chart(records, directory / f"{stem}-leases.png", title))
    return [p for p in made if p is not None]
