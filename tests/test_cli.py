import subprocess
import sys

from mmpoly_geo.cli import main
from mmpoly_geo.data import PSmilesTokenizer


def test_prepare_csv_end_to_end(tmp_path, capsys):
    csv = tmp_path / "p.csv"
    csv.write_text("psmiles,Tg\n*CC(*)C,250\n*CC(*)c1ccccc1,373\nCC,1\n")
    rc = main(["prepare", "--csv", str(csv), "--target", "Tg", "--root",
               str(tmp_path / "data"), "--num-workers", "0",
               "--num-conformers", "2", "--repeat-units", "2"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "p: 2 of 3 polymers kept" in out
    assert "coordinates by method: etkdg 2" in out
    assert "rejected 1 rows" in out
    assert "1  StarCountError, e.g. p.csv line 4: P-SMILES has no '*'" in out
    assert (tmp_path / "data" / "p" / "processed").is_dir()


def test_prepare_reports_missing_file(tmp_path, capsys):
    rc = main(["prepare", "--csv", str(tmp_path / "x.csv")])
    assert rc == 2
    assert "CSV file not found" in capsys.readouterr().err


def test_vocab_command(tmp_path, capsys):
    csv = tmp_path / "v.csv"
    csv.write_text("psmiles\n*CC(*)Cl\n*CC(*)[Si](C)(C)C\n")
    out = tmp_path / "vocab.txt"
    assert main(["vocab", str(csv), "--out", str(out)]) == 0
    tok = PSmilesTokenizer(out)
    assert "[Si]" in tok.tokens and "Cl" in tok.tokens


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "mmpoly_geo.cli", "--help"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "prepare" in result.stdout


def test_prepare_on_disk_in_shards(tmp_path, capsys):
    csv = tmp_path / "p.csv"
    csv.write_text("psmiles\n" + "\n".join(
        f"*C{'C' * i}C(*)O" for i in range(9)) + "\nCC\n")
    common = ["prepare", "--csv", str(csv), "--root", str(tmp_path / "d"),
              "--num-workers", "0", "--num-conformers", "1",
              "--descriptors", "none", "--chunk-size", "3"]
    for k in range(2):
        assert main(common + ["--shard", f"{k}/2"]) == 0
    capsys.readouterr()
    assert main(common + ["--on-disk"]) == 0
    out = capsys.readouterr().out
    assert "p: 9 of 10 polymers kept" in out and "StarCountError" in out
    assert main(common + ["--shard", "2"]) == 2
