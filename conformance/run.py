"""Run scipy's own sparse test files against mlx_scipy_sparse.

Each file is copied into a temporary package with its `scipy.sparse` imports
pointed at `_swap` (ours first, scipy's for names we lack; scipy's private
modules stay scipy's), then run by pytest in a subprocess.  Nothing in the
tests is changed beyond the imports.

    python -m conformance                 # run, print the tables
    python -m conformance --check         # exit 1 if a file passes fewer than baseline.json
    python -m conformance --update        # record baseline.json and deviations.md
    python -m conformance --reference     # the same files on scipy itself
    python -m conformance --suite linalg  # only scipy.sparse.linalg's test files (or csgraph, sparse)
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "baseline.json"
DEVIATIONS = HERE / "deviations.md"
PKG = "scipy_sparse_tests"

FILES = ["test_base.py", "test_construct.py", "test_csr.py", "test_csc.py", "test_coo.py",
         "test_common1d.py", "test_arithmetic1d.py", "test_indexing1d.py", "test_minmax1d.py"]
# the subpackages' test files, named by their path under scipy/sparse
LINALG = ["linalg/tests/test_interface.py", "linalg/tests/test_matfuncs.py",
          "linalg/tests/test_norm.py", "linalg/tests/test_onenormest.py",
          "linalg/tests/test_expm_multiply.py", "linalg/tests/test_funm_multiply_krylov.py",
          "linalg/tests/test_propack.py", "linalg/tests/test_special_sparse_arrays.py",
          "linalg/tests/test_pydata_sparse.py",
          "linalg/_isolve/tests/test_iterative.py", "linalg/_isolve/tests/test_gcrotmk.py",
          "linalg/_isolve/tests/test_lgmres.py", "linalg/_isolve/tests/test_lsmr.py",
          "linalg/_isolve/tests/test_lsqr.py", "linalg/_isolve/tests/test_minres.py",
          "linalg/_isolve/tests/test_utils.py", "linalg/_dsolve/tests/test_linsolve.py",
          "linalg/_eigen/tests/test_svds.py", "linalg/_eigen/arpack/tests/test_arpack.py",
          "linalg/_eigen/lobpcg/tests/test_lobpcg.py"]
CSGRAPH = ["csgraph/tests/test_connected_components.py", "csgraph/tests/test_conversions.py",
           "csgraph/tests/test_flow.py", "csgraph/tests/test_graph_laplacian.py",
           "csgraph/tests/test_matching.py", "csgraph/tests/test_pydata_sparse.py",
           "csgraph/tests/test_reordering.py", "csgraph/tests/test_shortest_path.py",
           "csgraph/tests/test_spanning_tree.py", "csgraph/tests/test_traversal.py"]
SUITES = {"sparse": FILES, "linalg": LINALG, "csgraph": CSGRAPH}
CORE = ("TestCSR", "TestCSC", "TestCOO")
ALL_CSX = re.compile(r"^Test(CSR|CSC|COO)(NonCanonical)?(Matrix)?$")


# -- the import swap ----------------------------------------------------------
def _names(spec):
    return [n.strip() for n in spec.strip().strip("()").replace("\n", " ").split(",") if n.strip()]


def _private_import(module, spec):
    """`from scipy.sparse._x import ...`: names that are scipy's public objects
    (re-exported by scipy.sparse) come from the swap, private helpers stay."""
    import importlib
    sub = module.split(".")[2]                  # scipy.sparse.<sub>...
    space = f"scipy.sparse.{sub}" if sub in SUBPACKAGES else "scipy.sparse"
    ss = importlib.import_module(space)
    mod = importlib.import_module(module)
    keep, swap = [], []
    for item in _names(spec):
        name = item.split(" as ")[0].strip()
        public = not name.startswith("_") and getattr(ss, name, None) is getattr(mod, name, 0)
        (swap if public else keep).append(item)
    lines = []
    if keep:
        lines.append(f"from {module} import {', '.join(keep)}")
    if swap:
        lines.append(f"from {PKG}.{_swap_module(space)} import {', '.join(swap)}")
    return "; ".join(lines)


SUBPACKAGES = ("linalg", "csgraph")


def _swap_module(space):
    """`scipy.sparse` -> `_swap`, `scipy.sparse.linalg` -> `_swap_linalg`."""
    return "_swap" + space[len("scipy.sparse"):].replace(".", "_")


def rewrite(src, package="scipy.sparse"):
    """`package`: the package above the file's tests folder (for `from .._x import`)."""
    src = re.sub(r"^(\s*)from \.\.(_\w+) import", rf"\1from {package}.\2 import", src,
                 flags=re.M)
    for space in ("scipy.sparse", "scipy.sparse.linalg", "scipy.sparse.csgraph"):
        esc, swap = re.escape(space), _swap_module(space)
        src = re.sub(rf"^(\s*)from {esc} import (\([^)]*\)|[^\n]*)",
                     lambda m: f"{m[1]}from {PKG}.{swap} import {m[2]}", src, flags=re.M)
        src = re.sub(rf"^(\s*)import {esc} as (\w+)", rf"\1from {PKG} import {swap} as \2",
                     src, flags=re.M)
    src = re.sub(r"^(\s*)from (scipy\.sparse(?:\.\w+)*\._\w+(?:\.\w+)*) import (\([^)]*\)|[^\n]*)",
                 lambda m: m[1] + _private_import(m[2], m[3]), src, flags=re.M)
    src = re.sub(r"^(\s*)from scipy import sparse\b", rf"\1from {PKG} import _swap as sparse",
                 src, flags=re.M)
    # attribute uses of public names: scipy.sparse.csr_array -> _mlx_swap.csr_array,
    # scipy.sparse.linalg.cg -> _mlx_swap_linalg.cg (import lines untouched)
    def attr(m):
        if m[1] not in SUBPACKAGES:
            return f"_mlx_swap.{m[1]}{m[2] or ''}"
        return f"_mlx_swap_{m[1]}{m[2]}" if m[2] else m[0]
    src = re.sub(r"(?<!import )(?<!from )(?<!::)\bscipy\.sparse\.([a-zA-Z]\w*)(\.[a-zA-Z]\w*)?\b"
                 r"(?!\s*import)", attr, src)
    first = re.search(r"^(import|from) (?!__future__)", src, flags=re.M)
    for swap in ("_swap", "_swap_linalg", "_swap_csgraph"):
        if f"_mlx{swap}." in src:
            src = (src[:first.start()] + f"from {PKG} import {swap} as _mlx{swap}\n"
                   + src[first.start():])
    return src


def source_of(name):
    """Where scipy keeps a test file: sparse's own are named bare (`test_base.py`)."""
    import scipy.sparse
    root = Path(scipy.sparse.__file__).parent
    return root / name if "/" in name else root / "tests" / name


def prepare(root, files):
    pkg = root / PKG
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for swap in ("_swap.py", "_swap_linalg.py", "_swap_csgraph.py"):
        shutil.copy(HERE / swap, pkg / swap)
    shutil.copy(HERE / "_plugin.py", root / "_conformance_plugin.py")
    for name in files:
        src, dst = source_of(name), pkg / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        # packages all the way down, so equal file names in two folders do not clash
        d = dst.parent
        while d != pkg:
            (d / "__init__.py").touch()
            d = d.parent
        if not (dst.parent / ".data_copied").exists():   # data files next to the tests
            for extra in src.parent.iterdir():
                if extra.is_dir() and extra.name == "data":
                    shutil.copytree(extra, dst.parent / "data", dirs_exist_ok=True)
                elif extra.is_file() and extra.suffix not in (".py", ".pyc"):
                    shutil.copy(extra, dst.parent / extra.name)
            (dst.parent / ".data_copied").touch()
        above = ".".join(["scipy.sparse", *Path(name).parts[:-2]])
        dst.write_text(rewrite(src.read_text(), above))


# -- running -------------------------------------------------------------------
def _stem(name):
    return name.replace("/", "__")


def run_file(root, name, reference, extra, timeout):
    out = root / (_stem(name) + ".jsonl")
    # the checkout's package first: a venv's editable install may point at another tree
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(HERE.parent)]),
               PYTHONHASHSEED="0",
               CONFORMANCE_RESULTS=str(out), CONFORMANCE_FALLBACKS=str(root / "fallbacks.txt"),
               CONFORMANCE_REFERENCE="1" if reference else "0")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p",
           "_conformance_plugin", "-q", "--tb=short", "-o", "addopts=", "--rootdir", str(root),
           str(root / PKG / name), *extra]
    t0 = time.time()
    with open(root / (_stem(name) + ".log"), "w") as log:
        try:
            subprocess.run(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                           timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"  {name}: killed after {timeout} s", file=sys.stderr)
    recs = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return name, recs, time.time() - t0


def run_all(files, reference=False, extra=(), jobs=2, timeout=900, keep=None):
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="conformance-"))
    if keep and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    # every file of the suites asked for is copied: tests import their siblings
    prepare(root, [f for suite in SUITES.values() if set(suite) & set(files) for f in suite])
    results, times = {}, {}
    # the longest file first, the others alongside it
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        futs = [ex.submit(run_file, root, f, reference, list(extra), timeout) for f in files]
        for fut in futs:
            name, recs, dt = fut.result()
            results[name], times[name] = recs, dt
    fb = root / "fallbacks.txt"
    fallbacks = sorted(set(fb.read_text().split())) if fb.exists() else []
    (root / "times.json").write_text(json.dumps(times))
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return results, times, fallbacks


def load_dir(root, files):
    """Results of an earlier run kept with --keep."""
    results = {f: [json.loads(x) for x in (root / (_stem(f) + ".jsonl")).read_text().splitlines()]
               for f in files}
    tf = root / "times.json"
    times = json.loads(tf.read_text()) if tf.exists() else {f: 0.0 for f in files}
    times["_wall"] = max(times.values())
    fb = root / "fallbacks.txt"
    return results, times, sorted(set(fb.read_text().split())) if fb.exists() else []


# -- reporting --------------------------------------------------------------------
OUTCOMES = ("passed", "failed", "error", "skipped")


def klass(nodeid):
    parts = nodeid.split("::")
    return parts[1] if len(parts) > 2 else "(functions)"


def tally(recs):
    per = defaultdict(Counter)
    for r in recs:
        per[klass(r["nodeid"])][r["outcome"] or "error"] += 1
    return per


def summarize(results):
    """{'files': {file: counts}, 'classes': {file: {class: counts}}, 'groups': {...}}"""
    files, classes = {}, {}
    for name, recs in results.items():
        per = tally(recs)
        classes[name] = {k: dict(v) for k, v in sorted(per.items())}
        files[name] = dict(sum(per.values(), Counter()))
    if "test_base.py" not in classes:
        return {"files": files, "classes": classes, "groups": {}}
    base = classes["test_base.py"]
    groups = {
        "TestCSR+TestCSC+TestCOO": dict(sum((Counter(base.get(c, {})) for c in CORE), Counter())),
        "all CSR/CSC/COO classes": dict(sum((Counter(v) for k, v in base.items()
                                             if ALL_CSX.match(k)), Counter())),
    }
    return {"files": files, "classes": classes, "groups": groups}


WIDTH = 48


def _row(label, c, ref=None, width=WIDTH):
    cells = "".join(f"{c.get(o, 0):>8}" for o in OUTCOMES)
    pct = ""
    if ref is not None:
        pct = f"{ref:>8}  {100.0 * c.get('passed', 0) / ref:6.1f}%" if ref else f"{ref:>8}"
    return f"{label:<{width}}{cells}{pct}"


def print_tables(summary, reference=None, times=None):
    ref = reference or {}
    head = f"{'':<{WIDTH}}" + "".join(f"{o:>8}" for o in OUTCOMES) + \
        (f"{'scipy':>8}  {'ratio':>7}" if reference else "")
    for name, per in summary["classes"].items():
        print(f"\n== {name}" + (f"  ({times[name]:.0f} s)" if times else ""))
        print(head)
        rc = ref.get("classes", {}).get(name, {})
        for k, c in per.items():
            print(_row(k, c, rc.get(k, {}).get("passed") if reference else None))
    print("\n== files")
    print(head)
    total = Counter()
    for name, c in summary["files"].items():
        total.update(c)
        print(_row(name, c, ref.get("files", {}).get(name, {}).get("passed") if reference else None))
    rt = sum(ref.get("files", {}).get(f, {}).get("passed", 0) for f in summary["files"])
    print(_row("TOTAL", total, rt if reference else None))
    if not summary["groups"]:
        return
    print("\n== test_base.py subtotals")
    print(head)
    for g, c in summary["groups"].items():
        print(_row(g, c, ref.get("groups", {}).get(g, {}).get("passed") if reference else None))


# -- failure categories -------------------------------------------------------------
def categorize(results, suite="sparse"):
    from .categories import BY_SUITE
    CATEGORIES = BY_SUITE[suite]
    cats = defaultdict(list)
    for name, recs in results.items():
        for r in recs:
            if r["outcome"] not in ("failed", "error"):
                continue
            text = r["nodeid"] + " :: " + r["message"]
            for cat in CATEGORIES:
                if re.search(cat["pattern"], text):
                    cats[cat["name"]].append(r)
                    break
            else:
                cats["uncategorized"].append(r)
    return cats


def deviations_path(suite):
    return DEVIATIONS if suite == "sparse" else HERE / f"deviations_{suite}.md"


def write_deviations(results, summary, fallbacks, seconds, ref, suite="sparse"):
    from .categories import BY_SUITE, KNOWN_DIFFERENCES
    CATEGORIES = BY_SUITE[suite]
    reference = {f: c.get("passed", 0) for f, c in ref.get("files", {}).items()}
    reference.update({g: c.get("passed", 0) for g, c in ref.get("groups", {}).items()})
    cats = categorize(results, suite)
    reasons = {c["name"]: c["reason"] for c in CATEGORIES}
    space = "scipy.sparse" + ("" if suite == "sparse" else "." + suite)
    lines = [f"# Deviations from {space} under scipy's own tests", "",
             f"Generated by `python -m conformance --suite {suite} --update` from a real run"
             + (f" ({seconds:.0f} s wall on this machine)" if seconds else "")
             + "; do not edit by hand: edit `conformance/categories.py`.",
             "Every failing or erroring test falls in exactly one category below (first "
             "pattern that matches its node id and error message wins).", "",
             "Choices that shape these numbers:", "",
             "- The swap: `scipy.sparse` public names (and `scipy.sparse._construct`, which the "
             "tests use as a namespace of public functions) come from mlx_scipy_sparse, and "
             "those of `scipy.sparse.linalg` and `scipy.sparse.csgraph` from "
             "`mlx_scipy_sparse.linalg` and `mlx_scipy_sparse.csgraph`; names "
             "we lack and scipy's private modules (`_sputils`, `_base`, ...) stay scipy's.",
             "- Dtypes MLX cannot hold (complex128, longdouble, clongdouble) are kept exactly as "
             "a numpy `.data` on the host and scipy does the work, so the tests' every-dtype "
             "loops run; as MLX input they are refused with a TypeError.",
             "- Percentages compare with scipy's own pass count on the same files "
             "(`python -m conformance --reference`).", "",
             "| file | passed | scipy passes |", "|---|---:|---:|",
             *(f"| {f} | {c.get('passed', 0)} | {reference.get(f, '')} |"
               for f, c in summary["files"].items()),
             *(f"| test_base.py: {g} | {c.get('passed', 0)} | {reference.get(g, '')} |"
               for g, c in summary["groups"].items()), "",
             "| category | failures | reason |", "|---|---:|---|"]
    order = [c["name"] for c in CATEGORIES if c["name"] in cats] + \
        (["uncategorized"] if "uncategorized" in cats else [])
    for n in order:
        lines.append(f"| {n} | {len(cats[n])} | "
                     f"{reasons.get(n, 'not yet analysed: see the examples below')} |")
    lines += ["", "## Examples per category", ""]
    for n in order:
        lines.append(f"### {n} ({len(cats[n])})")
        msgs = Counter(r["message"][:160] for r in cats[n])
        for m, k in msgs.most_common(6):
            ex = next(r["nodeid"].split("/")[-1] for r in cats[n] if r["message"][:160] == m)
            lines.append(f"- {k} x `{m}` (e.g. `{ex}`)")
        lines.append("")
    if suite == "sparse":
        lines += ["## Differences scipy's tests do not reach", "",
                  *(f"- **{d['name']}**: {d['reason']}" for d in KNOWN_DIFFERENCES), ""]
    lines += [f"## Names taken from {space} (mlx_scipy_sparse lacks them)", "",
              ", ".join(f"`{n}`" for n in fallbacks) or "none", ""]
    deviations_path(suite).write_text("\n".join(lines))


def suite_fallbacks(fallbacks, suite):
    """Fallback names are logged as `name` (scipy.sparse) or `linalg.name`."""
    if suite == "sparse":
        return [n for n in fallbacks if n.split(".")[0] not in SUBPACKAGES]
    return [n.split(".", 1)[1] for n in fallbacks if n.startswith(suite + ".")]


# -- main ---------------------------------------------------------------------------------
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m conformance", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="fail if below baseline.json")
    p.add_argument("--update", action="store_true", help="write baseline.json, deviations.md")
    p.add_argument("--reference", action="store_true", help="run on scipy itself")
    p.add_argument("--files", nargs="*", default=None, help="subset of the test files")
    p.add_argument("--keep", default=None, help="work directory to keep (logs, results)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--categories", action="store_true", help="print failure categories")
    p.add_argument("--from-dir", default=None,
                   help="report on the results kept by an earlier --keep run (no rerun)")
    p.add_argument("--suite", choices=[*SUITES, "all"], default="all",
                   help="scipy.sparse's own tests, linalg's, csgraph's, or all (default)")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    a = p.parse_args(argv)
    suites = list(SUITES) if a.suite == "all" else [a.suite]
    files = a.files or [f for s in suites for f in SUITES[s]]
    t0 = time.time()
    if a.from_dir:
        results, times, fallbacks = load_dir(Path(a.from_dir), files)
    else:
        results, times, fallbacks = run_all(files, a.reference, a.pytest_args, a.jobs,
                                            keep=a.keep)
    seconds = time.time() - t0 if not a.from_dir else times.pop("_wall", 0.0)
    base = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    bad = []
    for suite in suites:
        mine = [f for f in files if f in SUITES[suite]]
        if not mine:
            continue
        summary = summarize({f: results[f] for f in mine})
        print(f"\n######## suite: {suite}")
        print_tables(summary, None if a.reference else base.get("reference"), times)
        names = suite_fallbacks(fallbacks, suite)
        if names and not a.reference:
            print(f"names taken from scipy ({suite}):", " ".join(names))
        if a.categories and not a.reference:
            for n, recs in sorted(categorize({f: results[f] for f in mine}, suite).items(),
                                  key=lambda kv: -len(kv[1])):
                print(f"{len(recs):6}  {n}")
        if a.update:
            _update(base, suite, mine, summary, results, names, seconds, a.reference)
        bad += [f"{f}: {summary['files'].get(f, {}).get('passed', 0)} passed < baseline {n}"
                for f, n in base.get("files", {}).items()
                if f in mine and summary["files"].get(f, {}).get("passed", 0) < n]
    print(f"\nwall time {seconds:.0f} s")
    if a.update:
        BASELINE.write_text(json.dumps(base, indent=1, sort_keys=True) + "\n")
    if a.check:
        for b in bad:
            print("REGRESSION", b)
        return 1 if bad else 0
    return 0


def _update(base, suite, files, summary, results, fallbacks, seconds, reference):
    """Merge one suite's counts into baseline.json (the other suites' stay)."""
    if reference:
        ref = base.setdefault("reference", {})
        for k in ("files", "classes"):
            ref.setdefault(k, {}).update(summary[k])
        if summary["groups"]:
            ref["groups"] = summary["groups"]
        return
    if sorted(files) != sorted(SUITES[suite]):
        sys.exit("--update needs the suite's full set of files")
    base.setdefault("files", {}).update(
        {f: c.get("passed", 0) for f, c in summary["files"].items()})
    if summary["groups"]:
        base["groups"] = {g: c.get("passed", 0) for g, c in summary["groups"].items()}
    if seconds:
        base.setdefault("wall_s_by_suite", {})[suite] = round(seconds)
    write_deviations({f: results[f] for f in files}, summary, fallbacks, seconds,
                     base.get("reference", {}), suite)


if __name__ == "__main__":          # `python conformance/run.py`: run as the package
    sys.path.insert(0, str(HERE.parent))
    from conformance.run import main as _main
    sys.exit(_main())
