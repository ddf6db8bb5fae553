"""classify, eval and themes as a user types them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from silkwatch.cli import cli

pytestmark = pytest.mark.slow


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_themes_lists_the_builtin_themes_with_their_version():
    rows = json.loads(invoke("themes", "--format", "json"))
    assert {r["name"] for r in rows} == {"smart_cities", "sco_ecommerce", "china_tech_regulation"}
    assert len({r["version"] for r in rows}) == 1


def test_classify_text_arguments_as_jsonl():
    lines = invoke(
        "classify",
        "--format",
        "jsonl",
        "China's cyberspace regulator orders a security review of a ride-hailing app",
        "A village fair raises money for the school roof",
    ).splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["matches"] == ["china_tech_regulation"]
    assert set(first["scores"]) == {"smart_cities", "sco_ecommerce", "china_tech_regulation"}
    assert first["evidence"]["china_tech_regulation"]["example"]
    assert second["matches"] == []


def test_classify_input_file_keeps_ids(tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text(
        json.dumps(
            {
                "id": "x1",
                "title": "Uzbekistan and China launch a digital trade zone",
                "summary": "Online exporters get faster customs.",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    [line] = invoke("classify", "--input", str(data), "--format", "jsonl").splitlines()
    out = json.loads(line)
    assert out["id"] == "x1"
    assert "sco_ecommerce" in out["matches"]


def test_eval_reports_per_theme_and_macro_f1(tmp_path):
    rows = [
        (
            "a",
            "City of Astana installs AI traffic lights and a camera command centre",
            ["smart_cities"],
        ),
        (
            "b",
            "Kazakh online shoppers buy from Chinese platforms via a new e-commerce hub",
            ["sco_ecommerce"],
        ),
        (
            "c",
            "US adds a Chinese chipmaker to the entity list over military ties",
            ["china_tech_regulation"],
        ),
        ("d", "Heatwave closes schools across the region", []),
    ]
    data = tmp_path / "labeled.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": i, "title": t, "summary": "", "labels": labels}) + "\n"
            for i, t, labels in rows
        ),
        encoding="utf-8",
    )
    report = json.loads(invoke("eval", "--data", str(data), "--format", "json"))
    assert report["items"] == 4
    assert set(report["themes"]) == {"smart_cities", "sco_ecommerce", "china_tech_regulation"}
    for row in report["themes"].values():
        assert set(row) == {"precision", "recall", "f1", "support"}
        assert row["support"] == 1
    assert 0.0 <= report["macro_f1"] <= 1.0
    assert "macro" in invoke("eval", "--data", str(data))
