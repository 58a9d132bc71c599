"""Benchmark the consolidated notice: 19, 200, 2,000 and 20,000 task rows.

    .venv/bin/python bench/bench_notice.py --compare [--data-rows 20000] [--pdf-rows 2000] [--pdf20k [--pdf20k-whole]]
    .venv/bin/python bench/bench_notice.py [--sizes 19,200,2000,20000] [--no-pdf] [--no-jinja]

``--compare`` prints the baseline commit (bench/baseline.py) and today side by side with the ratios, in one
run: the notice data at 20,000 rows, the .docx render, and the PDF of the 2,000-row notice through the path
the notice takes (``mailer.render.notice._pdf``: today the kept LibreOffice of mailer/word/pdfkeeper.py, so its first
conversion, which starts soffice, and a second one are both shown); ``--pdf20k`` adds today's 20,000-row PDF
against the configured conversion timeout (the baseline's is not run: it takes far longer than the timeout):
converted in parts by one kept LibreOffice per CPU (mailer/word/pdfparallel.py), the number of instances
printed with it; ``--pdf20k-whole`` also converts it whole with one LibreOffice (``pdf_parts = 1``), after.

Each measurement runs in its own subprocess (a fresh interpreter, so ru_maxrss is that run's peak): a
temporary home whose registry holds a plan of N tasks (the seed's 19 repeated, with their offices and
milestones) and a June of approved reports (one office late, one silent). It times ``notice_data`` (the
query), the render with duban's row cloning ("fast") and, for comparison, with docxtpl's own ``{%tr %}``
loop ("jinja"), and the LibreOffice PDF conversion for 19 and 2,000 rows.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from baseline import BASELINE, measure_at, ratio_line, tree_root

# The measured tree: this one, or the baseline's checkout when bench/baseline.py runs measure() there.
ROOT = tree_root()
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(session, n: int):  # type: ignore[no-untyped-def]
    """Plan, June period and reports for ``n`` tasks, inserted in bulk (the ORM would take minutes)."""
    from notice_factory import JUNE_TEXT, SEED_TASKS, add_period, bj
    from sqlalchemy import insert, select

    from mailer.common.periods import month_end
    from mailer.registry.model import Entry, Milestone, Office, Plan, Submission, Task, TaskOffice

    plan = Plan(
        year=2022,
        title="台山市教育系统2022年重点工作任务一览表",
        org_name="台山市教育系统",
        notice_title="关于印发台山市教育系统2022年重点工作任务的通知",
        issuer="台山市教育局办公室",
    )
    session.add(plan)
    session.flush()
    names = sorted({o.lstrip("*") for _, _, offices, _, _ in SEED_TASKS for o in offices})
    session.execute(insert(Office), [{"name": name} for name in names])
    office_id = {o.name: o.id for o in session.scalars(select(Office))}
    session.execute(
        insert(Task),
        [
            {
                "plan_id": plan.id,
                "seq": i + 1,
                "name": SEED_TASKS[i % 19][1] + (f"（{i + 1}）" if i >= 19 else ""),
            }
            for i in range(n)
        ],
    )
    task_id = dict(session.execute(select(Task.seq, Task.id).where(Task.plan_id == plan.id)).all())
    links, milestones = [], []
    for i in range(n):
        _, _, offices, ms, _ = SEED_TASKS[i % 19]
        for pos, raw in enumerate(offices):
            links.append(
                {
                    "task_id": task_id[i + 1],
                    "office_id": office_id[raw.lstrip("*")],
                    "position": pos,
                    "is_lead": raw.startswith("*"),
                }
            )
        for pos, (month, text) in enumerate(ms):
            milestones.append(
                {
                    "task_id": task_id[i + 1],
                    "position": pos,
                    "label": "一二三四五六七八九十"[pos] + "是",
                    "due": month_end(2022, month),
                    "text": text,
                }
            )
    session.execute(insert(TaskOffice), links)
    session.execute(insert(Milestone), milestones)
    june = add_period(session, plan, 6)
    leads: dict[str, list[int]] = {}
    for i in range(n):
        for raw in SEED_TASKS[i % 19][2]:
            if raw.startswith("*"):
                leads.setdefault(raw[1:], []).append(i + 1)
    for name, seqs in leads.items():
        if name == "招考股":
            continue  # silent
        late = name == "督导室"
        sub = Submission(
            period_id=june.id,
            office_id=office_id[name],
            revision=1,
            state="approved",
            received_at=bj(2022, 6, 22 if late else 18),
            late=late,
        )
        session.add(sub)
        session.flush()
        session.execute(
            insert(Entry),
            [
                {
                    "submission_id": sub.id,
                    "task_id": task_id[s],
                    "progress": JUNE_TEXT.get((s - 1) % 19 + 1, ("", ""))[0],
                    "problems": JUNE_TEXT.get((s - 1) % 19 + 1, ("", ""))[1],
                }
                for s in seqs
            ],
        )
    session.flush()
    return june


def child(n: int, mode: str, pdf: bool, trace: bool) -> dict[str, object]:
    """One measurement in this process; returns the figures as a dict."""
    from mailer.common.config import init_home, load_settings
    from mailer.common.templates import template_path
    from mailer.registry.store import atomic, open_registry
    from mailer.render.notice import TEMPLATE_NAME, render_notice
    from mailer.render.notice_data import notice_data
    from mailer.word.pdf import convert

    out: dict[str, object] = {"n": n, "mode": mode}
    with tempfile.TemporaryDirectory(prefix="duban-bench-") as tmp:
        settings = load_settings(init_home(Path(tmp) / "home"))
        engine = open_registry(settings.database_url, create=True)
        with atomic(engine) as s:
            t = time.perf_counter()
            june = seed(s, n)
            out["seed_s"] = time.perf_counter() - t
            t = time.perf_counter()
            data = notice_data(s, june)
            out["query_s"] = time.perf_counter() - t
        assert len(data.rows) == n
        rss_before = _rss_mb()
        template = template_path(settings.templates, TEMPLATE_NAME)
        docx = Path(tmp) / "notice.docx"
        if trace:
            tracemalloc.start()
        t = time.perf_counter()
        render_notice(
            template,
            data,
            docx,
            issuer="台山市教育局办公室",
            issued_on=dt.date(2022, 6, 24),
            fast_rows=mode == "fast",
        )
        out["render_s"] = time.perf_counter() - t
        if trace:
            out["py_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        out["rss_before_mb"] = rss_before
        out["rss_peak_mb"] = _rss_mb()
        out["docx_kb"] = docx.stat().st_size / 1024
        if pdf:
            t = time.perf_counter()
            result = convert(docx, Path(tmp), "pdf", timeout=1800)
            out["pdf_s"] = time.perf_counter() - t
            pages = subprocess.run(
                ["pdfinfo", str(result)], capture_output=True, text=True, check=True
            ).stdout
            out["pages"] = next((int(x.split()[-1]) for x in pages.splitlines() if x.startswith("Pages:")), 0)
    return out


def run(n: int, mode: str, *, pdf: bool, trace: bool) -> dict[str, object]:
    cmd = (
        [sys.executable, __file__, "--child", str(n), mode]
        + (["--pdf"] if pdf else [])
        + (["--trace"] if trace else [])
    )
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"n": n, "mode": mode, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(args: dict[str, object]) -> dict[str, float]:
    """The --compare figures, with whichever ``mailer`` is on the path (APIs both commits have)."""
    from mailer.common.config import init_home, load_settings
    from mailer.common.templates import template_path
    from mailer.registry.store import atomic, open_registry
    from mailer.render.notice import TEMPLATE_NAME, _pdf, render_notice
    from mailer.render.notice_data import notice_data

    out: dict[str, float] = {}
    for n, key in ((int(str(args["data_rows"])), "big"), (int(str(args["pdf_rows"])), "pdf")):
        if n <= 0:
            continue
        with tempfile.TemporaryDirectory(prefix="duban-bench-") as tmp:
            settings = load_settings(init_home(Path(tmp) / "home"))
            out["timeout_s"] = float(settings.service.pdf_timeout_s)
            # A long timeout for the measurement itself: the baseline's 2,000-row PDF passes the default one.
            settings = dataclasses.replace(
                settings, service=dataclasses.replace(settings.service, pdf_timeout_s=int(str(args["pdf_timeout"])))
            )
            engine = open_registry(settings.database_url, create=True)
            with atomic(engine) as s:
                june = seed(s, n)
                s.flush()
                s.expire_all()  # the seed's objects out of the identity map: the query builds its own
                t = time.perf_counter()
                data = notice_data(s, june)
                out[f"{key}_data_s"] = time.perf_counter() - t
            docx = Path(tmp) / "notice.docx"
            t = time.perf_counter()
            render_notice(template_path(settings.templates, TEMPLATE_NAME), data, docx,
                          issuer="台山市教育局办公室", issued_on=dt.date(2022, 6, 24))
            out[f"{key}_render_s"] = time.perf_counter() - t
            runs = int(str(args.get("pdf_runs", 1))) if key == "pdf" else int(str(args.get("big_pdf", 0)))
            for i in range(runs):
                # The big notice: run 1 as configured (today: in parts, one LibreOffice per CPU), run 2
                # whole (pdf_parts = 1), for comparison.
                run_settings = settings
                if key == "big":
                    run_settings = dataclasses.replace(
                        settings, service=dataclasses.replace(settings.service, pdf_parts=0 if i == 0 else 1))
                    if i == 0:
                        out["big_instances"] = float(_instances(run_settings))
                cpu = _office_cpu_s()
                load = os.getloadavg()[0]
                t = time.perf_counter()
                pdf, err = _pdf(run_settings, docx)
                out[f"{key}_pdf{i + 1}_s"] = time.perf_counter() - t if pdf else float("nan")
                out[f"{key}_pdf{i + 1}_cpu_s"] = _office_cpu_s() - cpu
                out[f"{key}_pdf{i + 1}_load"] = max(load, os.getloadavg()[0])
                if pdf and key == "big":
                    out[f"{key}_pdf{i + 1}_pages"] = float(_pdf_pages(pdf))
                if err:
                    print(f"{n} rows: no PDF: {err}", file=sys.stderr)
    return out


def _instances(settings) -> int:  # type: ignore[no-untyped-def]
    from mailer.word.pdfparallel import instances

    return instances(settings.service.pdf_parts)


def _pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return next((int(x.split()[-1]) for x in info.splitlines() if x.startswith("Pages:")), 0)


def _office_cpu_s() -> float:
    """CPU seconds the process's kept LibreOffices (soffice.bin) have used so far: 0 before they start, NaN
    without one (the baseline). On a shared machine the wall time of a conversion is this (divided among
    the instances converting parts at once) plus waiting for a CPU. An instance stopped meanwhile (a
    timeout) takes its seconds with it."""
    try:
        from mailer.word import pdfkeeper
    except ImportError:
        return float("nan")
    if pdfkeeper.kept_office() is None:
        return float("nan")
    _count_stopped(pdfkeeper.KeptOffice)
    total = _stopped_cpu[0]
    for key, office in list(pdfkeeper._kept.items()):
        if key[1] == os.getpid():
            total += _cpu_of(office.pid)
    return total


# CPU seconds of kept LibreOffices stopped so far: after a conversion in parts the extra instances are
# stopped (mailer.word.pdfparallel), and their seconds would go with them.
_stopped_cpu = [0.0]


def _cpu_of(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _count_stopped(kept_office: type) -> None:
    """Wrap ``KeptOffice.stop`` (once) so that an instance's CPU seconds are added up before it goes."""
    stop = kept_office.stop
    if getattr(stop, "counted", False):
        return

    def counted_stop(self) -> None:  # type: ignore[no-untyped-def]
        _stopped_cpu[0] += _cpu_of(self.pid)
        stop(self)

    counted_stop.counted = True  # type: ignore[attr-defined]
    kept_office.stop = counted_stop  # type: ignore[method-assign]


def compare(ns: argparse.Namespace) -> None:
    args: dict[str, object] = {"data_rows": ns.data_rows, "pdf_rows": ns.pdf_rows, "pdf_timeout": 1800}
    old = measure_at(BASELINE, __file__, "measure", {**args, "pdf_runs": 1})
    print("  baseline measured", file=sys.stderr)
    new = measure({**args, "pdf_runs": 2, "big_pdf": (2 if ns.pdf20k_whole else 1) if ns.pdf20k else 0})
    print(f"notice, baseline {BASELINE} vs now (one run; each old PDF starts its own soffice)")
    print(ratio_line(f"notice data, {ns.data_rows} rows", old["big_data_s"], new["big_data_s"],
                     higher_is_better=False, unit=" s"))
    print(ratio_line(f".docx render, {ns.data_rows} rows", old["big_render_s"], new["big_render_s"],
                     higher_is_better=False, unit=" s"))
    print(ratio_line(f"notice data, {ns.pdf_rows} rows", old["pdf_data_s"], new["pdf_data_s"],
                     higher_is_better=False, unit=" s"))
    for i in (1, 2):
        label = "first (starts soffice)" if i == 1 else "second (kept soffice)"
        print(ratio_line(f"PDF, {ns.pdf_rows} rows, {label}", old["pdf_pdf1_s"], new[f"pdf_pdf{i}_s"],
                         higher_is_better=False, unit=" s"))
    if ns.pdf20k:
        nan = float("nan")
        for i, how in ((1, f"in parts, {new.get('big_instances', nan):.0f} LibreOffices at once"),
                       (2, "whole, one LibreOffice")):
            if f"big_pdf{i}_s" not in new:
                continue
            took = new[f"big_pdf{i}_s"]
            verdict = "within" if not math.isnan(took) and took <= new["timeout_s"] else "NOT within"
            print(f"PDF, {ns.data_rows} rows, {how}: {took:.3g} s — {verdict} the {new['timeout_s']:.0f} s "
                  f"timeout ({new.get(f'big_pdf{i}_pages', nan):.0f} pages; LibreOffice CPU "
                  f"{new.get(f'big_pdf{i}_cpu_s', nan):.3g} s; load average up to "
                  f"{new.get(f'big_pdf{i}_load', nan):.1f} on {os.cpu_count()} CPUs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="19,200,2000,20000")
    ap.add_argument("--no-pdf", action="store_true")
    ap.add_argument("--no-jinja", action="store_true")
    ap.add_argument("--compare", action="store_true", help="baseline vs now, with ratios")
    ap.add_argument("--data-rows", type=int, default=20000)
    ap.add_argument("--pdf-rows", type=int, default=2000)
    ap.add_argument("--pdf20k", action="store_true",
                    help="with --compare: today's PDF of --data-rows rows (in parts, one LibreOffice per CPU)")
    ap.add_argument("--pdf20k-whole", action="store_true",
                    help="with --pdf20k: also converted whole by one LibreOffice (pdf_parts = 1)")
    ap.add_argument("--child", nargs=2, metavar=("N", "MODE"), help=argparse.SUPPRESS)
    ap.add_argument("--pdf", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1], args.pdf, args.trace)))
        return
    if args.compare:
        compare(args)
        return
    sizes = [int(x) for x in args.sizes.split(",")]
    results = []
    for n in sizes:
        modes = ["fast"] if args.no_jinja else ["fast", "jinja"]
        for mode in modes:
            pdf = mode == "fast" and n in (19, 2000) and not args.no_pdf
            results.append(run(n, mode, pdf=pdf, trace=False))
            # tracemalloc slows rendering down, so its figure comes from a separate run.
            traced = run(n, mode, pdf=False, trace=True)
            results[-1]["py_peak_mb"] = traced.get("py_peak_mb")
            print(f"  done: {n} rows, {mode}", file=sys.stderr)
    head = (
        f"{'rows':>6} {'render':>6} {'query':>7} {'render':>8} {'peak RSS':>9} {'RSS before':>10} "
        f"{'py peak':>8} {'docx':>9} {'pdf':>7} {'pages':>5}"
    )
    print(head)
    print(f"{'':>6} {'via':>6} {'s':>7} {'s':>8} {'MB':>9} {'render MB':>10} {'MB':>8} {'KB':>9} {'s':>7}")
    for r in results:
        if "error" in r:
            print(f"{r['n']:>6} {r['mode']:>6}  failed: {r['error']}")
            continue

        def f(key: str, fmt: str, r: dict[str, object] = r) -> str:
            v = r.get(key)
            return format(v, fmt) if isinstance(v, int | float) else "—"

        print(
            f"{r['n']:>6} {r['mode']:>6} {f('query_s', '7.2f')} {f('render_s', '8.2f')} "
            f"{f('rss_peak_mb', '9.0f')} {f('rss_before_mb', '10.0f')} {f('py_peak_mb', '8.0f')} "
            f"{f('docx_kb', '9.0f')} {f('pdf_s', '7.1f')} {r.get('pages', '—'):>5}"
        )


if __name__ == "__main__":
    main()
