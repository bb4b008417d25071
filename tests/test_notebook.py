"""docs/notebooks/quickstart.ipynb: stored without outputs, and it runs top to bottom (slow: a few minutes of
training), with its figures."""

import pathlib

import nbformat
import pytest

NOTEBOOK = pathlib.Path(__file__).resolve().parents[1] / "docs" / "notebooks" / "quickstart.ipynb"


def test_the_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "the notebook has no code"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"outputs left in: {cell.source[:60]!r}"


@pytest.mark.slow
def test_the_quickstart_notebook_runs(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    work = tmp_path / "work"
    monkeypatch.setenv("QUICKSTART_DIR", str(work))  # the kernel inherits the environment
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # Opened from its folder, as Jupyter opens it; a failing cell raises CellExecutionError with its traceback.
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:  # what ran, with its outputs and figures, for a look after a failure
        nbformat.write(notebook, tmp_path / "quickstart.executed.ipynb")

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    figures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(figures) >= 8, f"{len(figures)} figures"
    assert "serving_default and predict_jpeg agree: True" in text
    for name in ("runs/resnet20/model.keras", "degradation.png", "serving/resnet20/1/saved_model.pb"):
        assert (work / name).exists(), name
