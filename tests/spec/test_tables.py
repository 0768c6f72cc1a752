"""The saved parser tables match the grammar, and a parser loaded from them parses as a freshly built one."""

import json

from nngraph.spec import tables

SPEC = "model m {\n  input x[2]\n  output y[1] sigmoid\n  x -> y\n}\ntrain { loss bce(y) + 0.5 * kl(z) }\n"


def test_saved_tables_are_current():
    saved = json.loads((tables._SOURCE_GRAMMAR / tables.TABLES_NAME).read_text())
    assert saved["stamp"] == tables.stamp(tables.grammar_text()), (
        "grammar/nngraph.tables.json is stale: run `python -m nngraph.spec.tables`")


def test_loaded_parser_parses_like_a_built_one():
    built = tables.build_parser(tables.grammar_text())
    loaded = tables.load_parser()
    for rule, text in (("start", SPEC), ("statement_only", "a -> b conv(filters=2, kernel=3) delay 2"),
                       ("value_only", "[1, -2.5e-3, \"s\", f(x=1)]")):
        assert loaded.parse(text, start=rule) == built.parse(text, start=rule)


def test_stale_tables_fall_back_to_the_grammar(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "stamp", lambda text: "something else")
    assert tables.load_parser().parse("model m { input x[1] }", start="start")
