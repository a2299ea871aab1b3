import argparse

from prlstm import demo


def test_demo_runs_and_backends_agree(capsys):
    parser = argparse.ArgumentParser()
    demo.register(parser.add_subparsers())
    args = parser.parse_args(["demo", "--hidden", "8", "--batch", "2", "--length", "19",
                              "--repeats", "1"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for backend in ("reference", "levelwise", "chunked", "streaming", "nn.LSTM"):
        assert backend in out
    diffs = [float(line.split()[-1]) for line in out.splitlines() if "max |diff|" in line]
    assert len(diffs) == 4 and max(diffs) < 1e-5
