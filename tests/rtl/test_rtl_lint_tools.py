"""The lint machinery itself: waivers are documented and narrow, and the checks do find bugs."""

import shutil

import pytest

from memornn.sim.rtl import lint

BAD = """module bad(input wire [7:0] a, input wire [7:0] b, input wire en, output reg q, output wire w,
           output wire [7:0] narrow);
  always @* if (en) q = a[0];         // a latch
  wire x; assign x = ~x & b[0];       // a combinational loop
  assign w = x;
  assign narrow = {1'b0, a} + {1'b0, b};  // a real truncation: 9 bits into 8
endmodule
"""


def test_every_waiver_names_a_rule_and_its_reason():
    rules = [rule for rule, _, _ in lint.WAIVERS]
    assert all(rule.isupper() for rule in rules)
    assert all(len(reason) > 60 for _, _, reason in lint.WAIVERS)
    text = lint.waiver_text()
    assert text.startswith("`verilator_config")
    for rule, pattern, reason in lint.WAIVERS:
        assert f"// {rule}: {reason}" in text
        assert f"lint_off -rule {rule}" in text
    # WIDTHTRUNC catches real bugs: it is waived only for two message patterns.
    assert [p for r, p, _ in lint.WAIVERS if r == "WIDTHTRUNC"] == ["*Logical operator LOGNOT expects 1 bit*",
                                                                   "*Assign RHS's SHIFTR generates*"]


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not on PATH")
def test_waivers_keep_a_real_truncation(tmp_path):
    source = tmp_path / "bad.v"
    source.write_text(BAD)
    found = lint.verilator_lint([source], "bad", lint.write_waivers(tmp_path))
    assert any("WIDTHTRUNC" in line and "ADD" in line for line in found), found


def test_yosys_check_finds_latch_and_loop(tmp_path):
    source = tmp_path / "bad.v"
    source.write_text(BAD)
    problems = lint.yosys_check([source], "bad")
    assert any("Latch" in p for p in problems), problems
    assert any("logic loop" in p for p in problems), problems


def test_unused_zero_width_wires():
    text = ("module m(y);\nwire [-1:0] a;\nwire [-1:0] \\b.c ;\nassign y = a;\nwire [3:0] d;\nendmodule\n"
            "module n(z);\nwire [-1:0] d;\nendmodule\n")
    assert lint.unused_zero_width_wires(text) == ["a"]
