"""Self-contained HTML reports of scenario outcomes, with pictures.

One file per scenario (``<item name>.html``, images embedded, no external
resource) and an ``index.html`` listing every report of the directory. A
failing scenario's page shows

- the verdict, the first divergence and the full text report;
- the pipeline drawn as a graph (inline SVG), the diverging stage in red;
- per captured stream, in pipeline order: the comparison figures and the
  tolerance, then golden vs obtained over frames (line plots for scalars
  and vectors: the worst element's values and the per-frame largest
  difference against the tolerance bound, diverging frames shaded), or for
  2-D and larger streams the first, worst and last frames as images
  (golden | obtained | |difference|, golden and obtained on one colour
  scale, diverging elements outlined).

The pictures need matplotlib (``pip install 'shmpipeline[report]'``);
without it the same sections hold tables of per-frame differences. Passing
scenarios get a short summary. :func:`write_index` also reads the small
``.summary.json`` written beside each page, so reports written by several
pytest-xdist workers share one index.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "matplotlib_available",
    "render_scenario_report",
    "write_index",
    "write_scenario_report",
    "write_skipped_summary",
]

_SUMMARY_SUFFIX = ".summary.json"
_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1200px;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em} h3{font-size:1em}
.status{padding:.1em .5em;border-radius:.3em;color:#fff;font-weight:600}
.passed,.recorded,.unchanged{background:#2a7d2e} .failed{background:#b3261e}
.skipped{background:#777}
.first{font-size:1.05em;font-weight:600;color:#b3261e;margin:.6em 0}
.note{color:#8a5a00;font-weight:600}
pre{background:#f5f5f5;padding:.7em;overflow-x:auto;font-size:.85em}
table{border-collapse:collapse;margin:.4em 0} td,th{border:1px solid #ccc;
padding:.2em .5em;font-size:.85em;text-align:left} th{background:#eee}
img{max-width:100%;border:1px solid #ddd} .ok{color:#2a7d2e} .bad{color:#b3261e}
"""


def matplotlib_available() -> bool:
    """Whether the pictures can be drawn (the ``report`` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=,\-]+", "_", name).strip("._") or "scenario"


def write_scenario_report(outcome: Any, directory: str | Path) -> Path:
    """Write ``outcome``'s page (and its index summary) into ``directory``."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(outcome.scenario.item_name)
    page = target / f"{stem}.html"
    page.write_text(render_scenario_report(outcome), encoding="utf-8")
    summary = {
        "name": outcome.scenario.item_name,
        "status": outcome.status,
        "executor": outcome.executor,
        "page": page.name,
        "first_divergence": None
        if outcome.divergence is None
        else outcome.divergence.format(),
        "headline": (outcome.message or "").splitlines()[0] if outcome.message else "",
    }
    (target / f"{stem}{_SUMMARY_SUFFIX}").write_text(
        json.dumps(summary), encoding="utf-8"
    )
    return page


def write_skipped_summary(name: str, reason: str, directory: str | Path) -> Path:
    """Record a skipped scenario (unmet requirements) for the index."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    summary = {
        "name": name,
        "status": "skipped",
        "executor": "",
        "page": "",
        "first_divergence": None,
        "headline": reason,
    }
    path = target / f"{_file_stem(name)}{_SUMMARY_SUFFIX}"
    path.write_text(json.dumps(summary), encoding="utf-8")
    return path


def write_index(directory: str | Path) -> Path:
    """Write ``index.html`` listing every scenario report in ``directory``
    (failures first)."""
    target = Path(directory)
    rows = []
    for path in sorted(target.glob(f"*{_SUMMARY_SUFFIX}")):
        try:
            rows.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    rows.sort(key=lambda r: (r.get("status") != "failed", r.get("name", "")))
    failed = sum(1 for r in rows if r.get("status") == "failed")
    body = [
        "<h1>shmpipeline scenario report</h1>",
        f"<p>{len(rows)} scenario(s), {failed} failed.</p>",
        "<table><tr><th>scenario</th><th>status</th><th>executor</th><th>detail</th></tr>",
    ]
    for row in rows:
        detail = row.get("first_divergence") or row.get("headline") or ""
        name = html.escape(row.get("name", "?"))
        page = html.escape(row.get("page", ""))
        cell = f'<a href="{page}">{name}</a>' if page else name
        body.append(
            f"<tr><td>{cell}</td>"
            f'<td><span class="status {html.escape(row.get("status", ""))}">'
            f"{html.escape(row.get('status', '?'))}</span></td>"
            f"<td>{html.escape(row.get('executor', ''))}</td>"
            f"<td>{html.escape(detail)}</td></tr>"
        )
    body.append("</table>")
    index = target / "index.html"
    index.write_text(
        _document("shmpipeline scenarios", "\n".join(body)), encoding="utf-8"
    )
    return index


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def render_scenario_report(outcome: Any) -> str:
    """The HTML page of one outcome (see the module docstring)."""
    scenario = outcome.scenario
    esc = html.escape
    parts = [
        f"<h1>scenario {esc(scenario.item_name)} "
        f'<span class="status {esc(outcome.status)}">{esc(outcome.status)}</span></h1>'
    ]
    if outcome.executor == "inline":
        parts.append(
            '<p class="note">Computed by the inline executor in one process: '
            "not the real multi-process pipeline.</p>"
        )
    facts = [
        ("scenario file", scenario.path),
        ("golden", scenario.golden),
        ("frames", outcome.result.frames_completed),
        ("mode", scenario.mode),
        ("scenario hash", scenario.hash()[:16]),
    ]
    if outcome.obtained is not None:
        facts.append(("obtained", outcome.obtained))
    if outcome.accept:
        facts.append(("accept the change", outcome.accept))
    parts.append(_table(["", ""], [(k, "" if v is None else str(v)) for k, v in facts]))
    if outcome.divergence is not None:
        parts.append(f'<p class="first">{esc(outcome.divergence.format())}</p>')
    diverging_kernel = None if outcome.divergence is None else outcome.divergence.kernel
    parts.append("<h2>pipeline</h2>")
    feedback = {
        spec.stream: spec.command
        for spec in scenario.inputs
        if getattr(spec, "command", None)
    }
    parts.append(pipeline_svg(scenario.pipeline, diverging_kernel, feedback))
    if outcome.message:
        parts.append(f"<h2>report</h2><pre>{esc(outcome.message)}</pre>")
    comparison = outcome.comparison
    if comparison is not None and not outcome.ok:
        parts.append("<h2>captured streams</h2>")
        if not matplotlib_available():
            parts.append(
                '<p class="note">matplotlib is not installed: tables instead of '
                "pictures (pip install 'shmpipeline[report]').</p>"
            )
        for stream in comparison.streams:
            parts.append(_stream_section(stream, outcome))
    elif comparison is not None:
        rows = [(s.name, s.status, _tol(s.tolerance)) for s in comparison.streams]
        parts.append("<h2>captured streams</h2>")
        parts.append(_table(["stream", "verdict", "tolerance"], rows))
    return _document(f"scenario {scenario.item_name}", "\n".join(parts))


def _tol(tolerance: Mapping[str, Any] | None) -> str:
    if tolerance is None:
        return "exact"
    return ", ".join(f"{k}={v:g}" for k, v in tolerance.items())


def _table(header: list[str], rows: list[tuple[Any, ...]]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(str(h))}</th>" for h in header) if any(header) else ""
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table>{'<tr>' + head + '</tr>' if head else ''}{body}</table>"


def _stream_section(stream: Any, outcome: Any) -> str:
    from shmpipeline.testing.golden import differing_elements

    esc = html.escape
    verdict = "ok" if stream.ok else "bad"
    parts = [
        f'<h3>stream {esc(stream.name)} <span class="{verdict}">{esc(stream.status)}'
        "</span></h3>"
    ]
    rows = [
        ("tolerance", _tol(stream.tolerance)),
        (
            "differing elements",
            f"{stream.differing} of {stream.elements} ({stream.percent:.3g}%)",
        ),
        ("first diverging frame", stream.first_diverging_frame),
        ("max abs error", stream.max_abs_error),
    ]
    if stream.message:
        rows.insert(0, ("verdict", stream.message))
    parts.append(_table(["", ""], [(k, "-" if v is None else v) for k, v in rows]))
    obtained = outcome.result.captures.get(stream.name)
    golden = (
        None
        if outcome.golden_arrays is None
        else outcome.golden_arrays.get(stream.name)
    )
    if obtained is None or golden is None:
        return "\n".join(parts)
    obtained, golden = np.asarray(obtained), np.asarray(golden)
    if obtained.dtype != golden.dtype or obtained.shape[1:] != golden.shape[1:]:
        return "\n".join(parts)
    frames = min(obtained.shape[0], golden.shape[0])
    if frames == 0:
        return "\n".join(parts)
    obtained, golden = obtained[:frames], golden[:frames]
    if obtained.dtype.kind == "c":
        obtained, golden = np.abs(obtained), np.abs(golden)
    if obtained.dtype.kind not in "biuf":
        return "\n".join(parts)
    bad = differing_elements(obtained, golden, stream.tolerance)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(obtained.astype(np.float64) - golden.astype(np.float64))
    if matplotlib_available():
        try:
            image = _plot_stream(stream, golden, obtained, diff, bad)
        except Exception as exc:  # noqa: BLE001 - a picture never breaks a report
            parts.append(f'<p class="note">plot failed: {esc(str(exc))}</p>')
        else:
            parts.append(
                f'<img alt="{esc(stream.name)}" src="data:image/png;base64,{image}">'
            )
            return "\n".join(parts)
    per_frame = diff.reshape(frames, -1).max(axis=1) if diff.size else np.zeros(frames)
    bad_frames = bad.reshape(frames, -1).sum(axis=1)
    table_rows = [
        (k, f"{per_frame[k]:.6g}", int(bad_frames[k]))
        for k in range(frames)
        if bad_frames[k] or k in (0, frames - 1)
    ]
    parts.append(
        _table(["frame", "max |difference|", "diverging elements"], table_rows)
    )
    return "\n".join(parts)


def _png(figure: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plot_stream(stream, golden, obtained, diff, bad) -> str:
    """A PNG (base64) of one stream: lines for scalars/vectors, images of
    the first/worst/last frames for 2-D and larger."""
    from matplotlib.figure import Figure

    frames = golden.shape[0]
    element_shape = golden.shape[1:]
    bad_frames = bad.reshape(frames, -1).any(axis=1)
    worst_frame = (
        int(np.argmax(diff.reshape(frames, -1).max(axis=1))) if diff.size else 0
    )
    if len(element_shape) <= 1:
        g = golden.reshape(frames, -1).astype(np.float64)
        o = obtained.reshape(frames, -1).astype(np.float64)
        d = diff.reshape(frames, -1)
        worst = int(np.unravel_index(int(np.argmax(d)), d.shape)[1]) if d.size else 0
        figure = Figure(figsize=(11, 3.2))
        left, right = figure.subplots(1, 2)
        left.plot(g[:, worst], label="golden", color="#1f77b4", lw=2)
        left.plot(o[:, worst], label="obtained", color="#d62728", lw=1.2, ls="--")
        left.set_title(f"{stream.name}[{worst}] over frames (worst element)")
        left.set_xlabel("frame")
        left.legend()
        right.plot(d.max(axis=1), color="#d62728", label="max |difference|")
        tol = stream.tolerance or {}
        if "atol" in tol:
            bound = tol["atol"] + tol["rtol"] * np.abs(g).max(axis=1)
            right.plot(bound, color="#555", ls=":", label="tolerance bound")
        right.set_title("per-frame largest difference")
        right.set_xlabel("frame")
        if (d.max(axis=1) > 0).any():
            right.set_yscale("symlog", linthresh=1e-12)
        for ax in (left, right):
            for k in np.flatnonzero(bad_frames):
                ax.axvspan(k - 0.5, k + 0.5, color="#f4c7c3", alpha=0.5, lw=0)
        right.legend()
        return _png(figure)
    picks = sorted({0, worst_frame, frames - 1})
    figure = Figure(figsize=(11, 3.0 * len(picks)))
    axes = figure.subplots(len(picks), 3, squeeze=False)
    g2 = golden.reshape(frames, element_shape[0], -1).astype(np.float64)
    o2 = obtained.reshape(frames, element_shape[0], -1).astype(np.float64)
    d2 = diff.reshape(frames, element_shape[0], -1)
    b2 = bad.reshape(frames, element_shape[0], -1)
    finite = np.concatenate([g2[np.isfinite(g2)], o2[np.isfinite(o2)]])
    vmin, vmax = (
        (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    )
    dmax = float(np.nanmax(d2)) if d2.size and np.isfinite(d2).any() else 0.0
    roles = ((0, "first"), (worst_frame, "worst"), (frames - 1, "last"))
    for row, k in zip(axes, picks, strict=True):
        title = ", ".join(role for frame, role in roles if frame == k)
        for ax, data, name, kwargs in (
            (row[0], g2[k], "golden", {"vmin": vmin, "vmax": vmax, "cmap": "viridis"}),
            (
                row[1],
                o2[k],
                "obtained",
                {"vmin": vmin, "vmax": vmax, "cmap": "viridis"},
            ),
            (
                row[2],
                d2[k],
                "|difference|",
                {"vmin": 0.0, "vmax": dmax or 1.0, "cmap": "magma"},
            ),
        ):
            shown = ax.imshow(data, interpolation="nearest", **kwargs)
            ax.set_title(f"frame {k} ({title}): {name}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        ys, xs = np.nonzero(b2[k])
        if ys.size:
            for ax in row:
                ax.scatter(
                    xs,
                    ys,
                    s=30,
                    facecolors="none",
                    edgecolors="#ff2d2d",
                    linewidths=1.2,
                )
    return _png(figure)


def pipeline_svg(
    pipeline: Any,
    diverging_kernel: str | None = None,
    feedback: Mapping[str, str] | None = None,
) -> str:
    """The pipeline as an inline SVG graph: source streams, then kernels by
    depth (left to right); edges labelled with the stream they carry;
    ``diverging_kernel`` drawn in red; ``feedback`` maps a source stream to
    the stream a scenario input computes it from (a closed loop through a
    hardware fake), drawn as a dotted arc back to the source."""
    from shmpipeline.graph import PipelineGraph

    graph = PipelineGraph.from_config(pipeline)
    kernels = list(pipeline.kernels)
    try:
        order = list(graph.topological_order())
    except Exception:  # noqa: BLE001 - config order on a cycle
        order = [k.name for k in kernels]
    by_name = {k.name: k for k in kernels}
    producer = {k.output: k.name for k in kernels}
    depth: dict[str, int] = {}
    for name in order:
        kernel = by_name[name]
        reads = [kernel.input, *(getattr(a, "stream", a) for a in _aux_streams(kernel))]
        earlier = [
            depth[producer[s]] for s in reads if s in producer and producer[s] in depth
        ]
        depth[name] = 1 + max(earlier, default=0)
    triggers = {k.input for k in kernels}
    fed_back = set(feedback or {})
    sources = sorted(  # fed-back sources on top, auxiliary-only ones last
        graph.source_streams(),
        key=lambda n: (n not in fed_back, n not in triggers),
    )
    columns: dict[int, list[str]] = {0: [f"stream:{s}" for s in sources]}
    for name in order:
        columns.setdefault(depth[name], []).append(name)
    box_w, box_h, gap_x, gap_y = 150, 44, 70, 26
    positions: dict[str, tuple[float, float]] = {}
    for col, names in sorted(columns.items()):
        for row, node in enumerate(names):
            positions[node] = (20 + col * (box_w + gap_x), 60 + row * (box_h + gap_y))
    width = 40 + (max(columns) + 1) * (box_w + gap_x)
    height = 100 + max(len(v) for v in columns.values()) * (box_h + gap_y)
    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" style="max-width:100%;height:auto" '
        'font-family="sans-serif" font-size="11">',
        '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" '
        'refY="3" orient="auto"><path d="M0,0 L7,3 L0,6 z" fill="#666"/></marker></defs>',
    ]
    for kernel in kernels:
        reads = [(kernel.input, False)] + [(s, True) for s in _aux_streams(kernel)]
        for stream, aux in reads:
            origin = producer.get(stream) or (
                f"stream:{stream}" if f"stream:{stream}" in positions else None
            )
            if origin is None or origin not in positions:
                continue
            x1, y1 = positions[origin]
            x2, y2 = positions[kernel.name]
            start = (x1 + box_w, y1 + box_h / 2)
            end = (x2, y2 + box_h / 2)
            dash = ' stroke-dasharray="4 3"' if aux else ""
            if end[0] <= start[0]:  # feedback: arc below
                low = max(y1, y2) + box_h + gap_y * 0.8
                path = (
                    f"M{x1 + box_w / 2},{y1 + box_h} C{x1 + box_w / 2},{low} "
                    f"{x2 + box_w / 2},{low} {x2 + box_w / 2},{y2 + box_h}"
                )
                lx, ly = (x1 + x2 + box_w) / 2, low - 4
            else:
                path = f"M{start[0]},{start[1]} L{end[0]},{end[1]}"
                share = 0.7 if aux else 0.5  # aux labels near their reader
                lx = start[0] + share * (end[0] - start[0])
                ly = start[1] + share * (end[1] - start[1]) - 4
            out.append(
                f'<path d="{path}" fill="none" stroke="#666"{dash} '
                'marker-end="url(#arrow)"/>'
            )
            out.append(
                f'<text x="{lx}" y="{ly}" text-anchor="middle" fill="#444">{esc(stream)}</text>'
            )
    for source, command in (feedback or {}).items():
        origin, target = producer.get(command), f"stream:{source}"
        if origin not in positions or target not in positions:
            continue
        x1, y1 = positions[origin]
        x2, y2 = positions[target]
        top = min(y1, y2) - 4
        out.append(
            f'<path d="M{x1 + box_w / 2},{y1} C{x1 + box_w / 2},{top - 30} '
            f'{x2 + box_w / 2},{top - 30} {x2 + box_w / 2},{y2}" fill="none" '
            'stroke="#7a8fb0" stroke-dasharray="2 3" marker-end="url(#arrow)"/>'
        )
        out.append(
            f'<text x="{(x1 + x2 + box_w) / 2}" y="{top - 18}" text-anchor="middle" '
            f'fill="#44608a">{esc(command)} (fed back by the scenario)</text>'
        )
    for node, (x, y) in positions.items():
        if node.startswith("stream:"):
            label, sub, fill, stroke = (
                node[len("stream:") :],
                "source",
                "#eef3fb",
                "#7a8fb0",
            )
        else:
            kernel = by_name[node]
            label, sub = node, kernel.kind
            bad = node == diverging_kernel
            fill, stroke = ("#fde0dd", "#b3261e") if bad else ("#f3f3f3", "#555")
        width_px = 3 if node == diverging_kernel else 1
        out.append(
            f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{width_px}"/>'
        )
        out.append(
            f'<text x="{x + box_w / 2}" y="{y + 18}" text-anchor="middle" font-weight="600">{esc(label)}</text>'
        )
        out.append(
            f'<text x="{x + box_w / 2}" y="{y + 33}" text-anchor="middle" fill="#555">{esc(sub)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _aux_streams(kernel: Any) -> list[str]:
    auxiliary = getattr(kernel, "auxiliary", ()) or ()
    if isinstance(auxiliary, Mapping):
        return [str(v) for v in auxiliary.values()]
    streams = []
    for item in auxiliary:
        if isinstance(item, str):
            streams.append(item)
        elif isinstance(item, tuple) and len(item) == 2:
            streams.append(str(item[1]))
        else:
            streams.append(str(getattr(item, "stream", getattr(item, "name", item))))
    return streams
