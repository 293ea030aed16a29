"""Every figure in the result tables of README.md and docs/*.md, against its committed report.

A result table (one with a number outside its first column) carries, right above it
(nothing but blank lines between), an HTML comment naming its report and where in the
JSON each figure is:

    <!-- claims: docs/reports/paper_sin_long.json
    row adjoint: adjoint (clipped backprop)
    col s1000: step 1000
    *.s1000: comparisons.float32.paper_points.checkpoints.1000.{row}.median
    adjoint.ms: comparisons.float32.results.adjoint.step_time_ms.median
    *.paper: - the paper's numbers, quoted
    -->

`row KEY: LABEL` names the row whose first cell starts with LABEL, `col KEY: HEADER` the
column whose header starts with HEADER. `ROW.COL: PATHS` maps the cells of that row and
column (`*`: any; the most specific rule wins) to one entry per number in the cell, in
order, separated by `;`: a dotted JSON path (`{row}`, `{col}` stand for the keys; prefixed
`FILE#` for another report than the table's; list items by index), `mean_after(S, RUN)`
(a run's mean `x_mae` over its logged points after step S), `min(PATH)`, `max(PATH)`,
`count(PATH)`, `count(PATH <= K)` (over the items a path's `[*]`, `[KEY=JSON]` or
`[KEY!=JSON]` segment picks from a list of runs), `A / B`
(a ratio of two paths), `K * A` (a scaled path), or `- REASON` (not a measurement of
ours: a target, the paper's figure). Each figure must equal its report's value to the
printed precision. A table whose numbers are not measurements (flag defaults, shapes)
says so: `<!-- claims: none: REASON -->`. A result table without a comment is a failure,
unless it is listed in `NOT_YET_CHECKED` with the reason, where it shows as an expected
failure.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Result tables not checked yet, by file and the start of their header (cells joined by
#: "|"), with the reason.
NOT_YET_CHECKED: dict[tuple[str, str], str] = {}

NUMBER = re.compile(r"(?<![\w.])[−-]?\d+(?:,\d{3})*(?:\.\d+)?(?:e[−-]?\d+)?(?![\d.])")
CLAIMS = re.compile(r"<!--\s*claims:\s*(?P<report>\S+)\s*(?P<body>.*?)-->", re.S)


def plain(cell: str) -> str:
    return re.sub(r"[*`]", "", cell).strip()


def cells(line: str) -> list[str]:
    """A table line's cells; `\\|` is a `|` inside a cell."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [plain(cell).replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def tables(path: pathlib.Path):
    """`(first line number, header, rows, the text just above)` of each table in `path`."""
    lines = path.read_text().splitlines()
    k = 0
    while k < len(lines):
        if lines[k].startswith("|") and k + 1 < len(lines) and set(lines[k + 1]) <= set("|-: "):
            start, header = k, cells(lines[k])
            k += 2
            rows = []
            while k < len(lines) and lines[k].startswith("|"):
                rows.append(cells(lines[k]))
                k += 1
            yield start + 1, header, rows, "\n".join(lines[max(0, start - 80) : start])
        else:
            k += 1


def numbers(cell: str) -> list[str]:
    return NUMBER.findall(cell)


def is_result_table(rows: list[list[str]]) -> bool:
    return any(numbers(cell) for row in rows for cell in row[1:])


def printed_matches(printed: str, value: float) -> bool:
    """Whether `value` rounds to `printed` at the precision it is printed with."""
    text = printed.replace("−", "-").replace(",", "")
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.partition(".")[2])
    unit = 10.0 ** (int(exponent or 0) - decimals)
    return abs(value - float(text)) <= 0.5 * unit + 1e-9 * abs(value)


def lookup(report: dict, path: str):
    value = report
    for part in path.split("."):
        if isinstance(value, list):
            value = value[int(part)]
        elif part in value:
            value = value[part]
        else:
            raise KeyError(f"{path!r}: no {part!r} (there are {sorted(value)[:12]})")
    return value


def evaluate(report: dict, expression: str) -> float:
    window = re.fullmatch(r"mean_after\((\d+), (.+)\)", expression.strip())
    if window:  # a curve's mean x_mae over the logged points after a step
        from pg_keras.training.curves import curve  # imports TensorFlow: only when needed

        points = curve(resolve(report, window.group(2)), "x_mae")
        values = [value for step, value in points if step > int(window.group(1))]
        return sum(values) / len(values)
    if " / " in expression:
        top, bottom = expression.split(" / ")
        return evaluate(report, top) / evaluate(report, bottom)
    if " * " in expression:
        factor, path = expression.split(" * ")
        return float(factor) * evaluate(report, path)
    aggregate = re.fullmatch(r"(min|max|count)\((.+?)(?: <= (\S+))?\)", expression.strip())
    if aggregate:  # over several runs: a range's ends, how many met a target
        name, path, bound = aggregate.groups()
        found = [float(value) for value in each(report, path)]
        if name == "count":
            return sum(bound is None or value <= float(bound) for value in found)
        return min(found) if name == "min" else max(found)
    return float(resolve(report, expression))


def each(report: dict, path: str) -> list:
    """The values at `path`, whose `[...]` segments pick items of a list: `[*]` every one,
    `[KEY=JSON]` (`[KEY!=JSON]`) those whose KEY is (is not) that value."""
    selector = re.search(r"\[([^]]*)\]", path)
    if selector is None:
        return [resolve(report, path)]
    head, rest = path[: selector.start()].rstrip("."), path[selector.end() :]
    items = resolve(report, head)
    if selector.group(1) == "*":
        picked = range(len(items))
    else:
        test = re.fullmatch(r"(\w+)(!?)=(.+)", selector.group(1))
        if test is None:
            raise ValueError(f"Expected [*], [KEY=JSON] or [KEY!=JSON]. Received: {selector[0]}")
        key, negated, wanted = test.group(1), bool(test.group(2)), json.loads(test.group(3))
        picked = [k for k, item in enumerate(items) if (item.get(key) == wanted) != negated]
    return [value for k in picked for value in each(report, f"{head}.{k}{rest}")]


def resolve(report: dict, path: str):
    """The value at `path` in `report`, or in another report for `FILE#path`."""
    other, sep, path = path.strip().rpartition("#")
    if sep:
        return lookup(json.loads((ROOT / other).read_text()), path)
    return lookup(report, path)


def parse_claims(body: str) -> tuple[dict, dict, dict]:
    rows, columns, rules = {}, {}, {}
    for line in filter(None, (line.strip() for line in body.splitlines())):
        key, _, value = line.partition(": ")
        if key.startswith("row "):
            rows[key[4:]] = value
        elif key.startswith("col "):
            columns[key[4:]] = value
        else:
            row, _, column = key.partition(".")
            rules[(row, column)] = value
    return rows, columns, rules


def key_of(names: dict, text: str) -> str | None:
    found = [key for key, label in names.items() if text.startswith(plain(label))]
    return max(found, key=lambda k: len(names[k]), default=None)


def rule_for(rules: dict, row: str | None, column: str | None) -> str | None:
    for candidate in ((row, column), ("*", column), (row, "*"), ("*", "*")):
        if candidate in rules:
            return rules[candidate]
    return None


def check_table(path: pathlib.Path, line: int, header, rows, claims) -> list[str]:
    """Every mismatch, unmapped figure or missing path of one annotated table."""
    report = json.loads((ROOT / claims.group("report")).read_text())
    row_names, column_names, rules = parse_claims(claims.group("body"))
    problems = []
    for cells_ in rows:
        row = key_of(row_names, cells_[0])
        for head, cell in zip(header[1:], cells_[1:], strict=False):
            figures = numbers(cell)
            if not figures:
                continue
            column = key_of(column_names, head)
            where = f"{path.name}:{line} row {cells_[0]!r} column {head!r}"
            rule = rule_for(rules, row, column)
            if rule is None:
                problems.append(f"{where}: {cell!r} has figures and no claims rule")
                continue
            entries = [entry.strip() for entry in rule.split(";")]
            if entries[0].startswith("- ") and len(entries) == 1:
                continue
            if len(entries) != len(figures):
                problems.append(f"{where}: {len(figures)} figures {figures}, {len(entries)} paths")
                continue
            for figure, entry in zip(figures, entries, strict=True):
                if entry.startswith("- "):
                    continue
                if ("{row}" in entry and row is None) or ("{col}" in entry and column is None):
                    problems.append(f"{where}: {entry} needs a `row`/`col` line naming it")
                    continue
                expression = entry.format(row=row, col=column)
                try:
                    value = evaluate(report, expression)
                except (KeyError, IndexError, TypeError, ValueError) as error:
                    problems.append(f"{where}: {expression}: {error}")
                    continue
                if not printed_matches(figure, value):
                    problems.append(f"{where}: printed {figure}, report {expression} = {value:.6g}")
    return problems


def result_tables():
    for path in DOCS:
        for line, header, rows, above in tables(path):
            if is_result_table(rows):
                found = [m for m in CLAIMS.finditer(above) if not above[m.end() :].strip()]
                name = f"{path.relative_to(ROOT)}:{line}"
                yield pytest.param(path, line, header, rows, found[-1] if found else None, id=name)


@pytest.mark.parametrize(("path", "line", "header", "rows", "claims"), list(result_tables()))
def test_every_figure_of_a_result_table_is_its_reports_value(path, line, header, rows, claims):
    name, joined = str(path.relative_to(ROOT)), "|".join(header)
    listed = next(
        (why for (f, h), why in NOT_YET_CHECKED.items() if f == name and joined.startswith(h)), None
    )
    if claims is None and listed:
        pytest.xfail(listed)
    assert claims is not None, (
        f"{path.name}:{line}: a result table with no `<!-- claims: REPORT ... -->` above it "
        "and not in NOT_YET_CHECKED"
    )
    if claims.group("report") == "none:":
        assert claims.group("body").strip(), f"{path.name}:{line}: `claims: none:` needs a reason"
        return
    assert check_table(path, line, header, rows, claims) == []


def test_every_exemption_names_a_table_that_is_still_unchecked():
    """An entry of `NOT_YET_CHECKED` whose table was removed or has since been given a claims
    comment is stale: it would hide the next table that happens to share its header."""
    stale = []
    for (name, head), _why in NOT_YET_CHECKED.items():
        unchecked = [
            header
            for _, header, rows, above in tables(ROOT / name)
            if "|".join(header).startswith(head)
            and not any(not above[m.end() :].strip() for m in CLAIMS.finditer(above))
        ]
        if not unchecked:
            stale.append(f"{name}: {head}")
    assert stale == []


def test_the_checker_catches_a_wrong_figure_a_missing_rule_and_a_wrong_count(tmp_path):
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"a": {"x": 0.00112, "y": 2.0}, "b": {"x": 784.4, "y": 1.0}}))
    text = (
        f"<!-- claims: {report}\nrow a: scheme a\nrow b: scheme b\ncol x: x\ncol y: y\n"
        "*.x: {row}.x\na.y: a.y / b.y; - target\n-->\n"
        "| scheme | x | y |\n|---|---|---|\n"
        "| scheme a | 1.1e-3 | 2.0x (target 1.5x) |\n| scheme b | 784 | 1.0 |\n"
    )
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    ((line, header, rows, above),) = tables(doc)
    claims = CLAIMS.search(above)
    assert check_table(doc, line, header, rows, claims) == [
        f"doc.md:{line} row 'scheme b' column 'y': '1.0' has figures and no claims rule"
    ]
    doc.write_text(text.replace("1.1e-3", "1.2e-3").replace("(target 1.5x)", ""))
    ((line, header, rows, above),) = tables(doc)
    problems = check_table(doc, line, header, rows, CLAIMS.search(above))
    assert any("printed 1.2e-3, report a.x = 0.00112" in p for p in problems)
    assert any("1 figures ['2.0'], 2 paths" in p for p in problems)


def test_printed_precision():
    assert printed_matches("1.1e-3", 0.00114) and not printed_matches("1.1e-3", 0.00116)
    assert printed_matches("27", 26.5) and not printed_matches("27", 26.4)
    assert printed_matches("−0.3", -0.26) and printed_matches("10,000", 10000.2)
    assert numbers("1.39–1.57x, 0.10 % of B.5 and x0") == ["1.39", "1.57", "0.10"]


def test_aggregates_over_the_runs_a_field_picks():
    report = {"runs": [{"tf": None, "r": 1.2}, {"tf": "off", "r": 1.4}, {"tf": None, "r": 1.31}]}
    assert evaluate(report, "min(runs.[tf=null].r)") == 1.2
    assert evaluate(report, "max(runs.[tf=null].r)") == 1.31
    assert evaluate(report, "count(runs.[tf=null].r <= 1.3)") == 1
    assert evaluate(report, "count(runs.[tf!=null].r)") == 1
    assert evaluate(report, "max(runs.[*].r)") == 1.4
    with pytest.raises(ValueError, match=r"Received: \[tf\]"):
        evaluate(report, "min(runs.[tf].r)")
